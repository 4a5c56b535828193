// Routing to sessions (PROTOCOL.md sections 4 and 5): dest_session_id reaches
// every member with a session_seq, non-members get -5, private messages reach
// one member, game sessions go through the game master, anonymous members are
// seen by their anonymous id, and membership changes are announced live as
// -100, -103 and -104.
'use strict';
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const h = require('./lib/harness');

const T = { timeout: 60000 };
let server;
let app;  // an app key (HTTP)

before(async () => {
  server = await h.start_server();
  app = h.node_key(server, { node: 'backend', role: 'app' });
});
after(async () => { await server?.stop(); });

const conn = (node, opts = {}) => h.connect(server, { node, ...opts });
const key_of = (node) => h.node_key(server, { node });
function api(key, method, path, body) {
  return h.http_request(server, { method, path, body, headers: { authorization: `Bearer ${key}` } });
}
async function create(owner, body = {}) {
  const r = await api(key_of(owner), 'POST', '/v1/sessions', body);
  assert.equal(r.status, 201, r.text);
  return r.json.session_id;
}
async function join(caller_key, s, body = {}) {
  const r = await api(caller_key, 'POST', `/v1/sessions/${s}/join`, body);
  assert.equal(r.status, 200, r.text);
  return r.json;
}

// What a recipient gets (section 4): the server's head, then every field the
// sender sent, in order, but the ones the server sets.
const SERVER_SET = new Set(['dest_id', 'src_id', 'src_client_id', 'timestamp', 'seq', 'session_seq']);
function assert_frame(frame, sent, { dest_id, seq, session_seq, src_id, src_client_id }) {
  const got = frame.json;
  const expected = { dest_id };
  if (seq !== undefined) expected.seq = seq;
  if (session_seq !== undefined) expected.session_seq = session_seq;
  expected.src_id = src_id;
  if (src_client_id !== undefined) expected.src_client_id = src_client_id;
  expected.timestamp = got?.timestamp;
  for (const [k, v] of Object.entries(sent)) if (!SERVER_SET.has(k)) expected[k] = v;
  assert.deepEqual(got, expected, frame.text);
  assert.deepEqual(Object.keys(got), Object.keys(expected), `field order: ${frame.text}`);
  assert.ok(Number.isInteger(got.timestamp) && Math.abs(got.timestamp - Date.now()) < 60000, frame.text);
}

// A membership event (section 5), compared whole but for its timestamp.
async function expect_event(c, type, s, src_id, payload) {
  const f = await c.next((x) => x.json?.type === type && x.json?.dest_session_id === s);
  const expected = { dest_id: c.node, type, dest_session_id: s, src_id, ...(payload ? { payload } : {}), timestamp: f.json.timestamp };
  assert.deepEqual(f.json, expected, `${c.name}: ${f.text}`);
  assert.ok(Number.isInteger(f.json.timestamp), f.text);
}

async function nothing_more(clients, ms = 250) {
  await h.sleep(ms);
  for (const c of clients) await c.expect_nothing(0);
}

test('a session message reaches every member on every connection but the sending one, session_seq from 1', T, async () => {
  const [A, B, C, D] = [h.uid('a'), h.uid('b'), h.uid('c'), h.uid('d')];
  const a1 = await conn(A, { client: 'alice' });
  const a2 = await conn(A, { client: 'alice' });
  const b = await conn(B, { client: 'bob' });
  const c = await conn(C);
  const d = await conn(D);  // not a member
  const S = await create(A, { node_ids: [B, C] });
  await nothing_more([a1, a2, b, c, d]);  // creating announces nothing

  const m1 = { dest_session_id: S, type: 3, id: 'm1', payload: { text: 'hi' }, extra: [1, 2.5] };
  await a1.send(m1);
  for (const [x, node] of [[a2, A], [b, B], [c, C]]) {
    assert_frame(await x.next(), m1, { dest_id: node, session_seq: 1, src_id: A, src_client_id: 'alice' });
  }
  const m2 = { payload: 'from b', dest_session_id: S };
  await b.send(m2);
  for (const [x, node] of [[a1, A], [a2, A], [c, C]]) {
    assert_frame(await x.next(), m2, { dest_id: node, session_seq: 2, src_id: B, src_client_id: 'bob' });
  }
  // ephemeral: delivered, never stored, so no session_seq.
  const typing = { dest_session_id: S, ephemeral: true, payload: 'typing' };
  await c.send(typing);
  for (const [x, node] of [[a1, A], [a2, A], [b, B]]) assert_frame(await x.next(), typing, { dest_id: node, src_id: C });
  // Client-set server fields are replaced.
  const m3 = { dest_session_id: S, id: 'm3', src_id: 'evil', src_client_id: 'evil', timestamp: 1, session_seq: 99, seq: 5 };
  await a2.send(m3);
  for (const [x, node] of [[a1, A], [b, B], [c, C]]) {
    assert_frame(await x.next(), m3, { dest_id: node, session_seq: 3, src_id: A, src_client_id: 'alice' });
  }
  await nothing_more([a1, a2, b, c, d]);
});

test('a non-member gets -5 and members nothing; an unknown session -6; an app connection sends to any session', T, async () => {
  const [A, B, X] = [h.uid('a'), h.uid('b'), h.uid('x')];
  const a = await conn(A);
  const b = await conn(B);
  const x = await conn(X);
  const S = await create(A, { node_ids: [B] });
  await x.send({ dest_session_id: S, id: 'x1', payload: 'let me in' });
  let f = await x.next();
  assert.equal(f.json.payload?.code, 'session_unauthorized', f.text);
  assert.equal(typeof f.json.payload.message, 'string');
  assert.ok(f.json.payload.message.length > 0);
  assert.deepEqual(f.json, { type: -5, id: 'x1', dest_session_id: S, payload: { code: 'session_unauthorized', message: f.json.payload.message } });
  await x.send({ dest_session_id: S, payload: 'no id' });
  f = await x.next();
  assert.deepEqual(f.json, { type: -5, dest_session_id: S, payload: { code: 'session_unauthorized', message: f.json.payload?.message } }, f.text);
  await x.send({ dest_session_id: h.uid('no-such'), id: 'x2' });
  h.assert_error_frame(await x.next(), 'unknown_session', 'x2');
  await nothing_more([a, b]);

  // An app's connection is no member, and may send.
  const APP = h.uid('app');
  const ws_app = await conn(APP, { role: 'app' });
  const sent = { dest_session_id: S, id: 'from-app', payload: 'hello room' };
  await ws_app.send(sent);
  for (const [y, node] of [[a, A], [b, B]]) assert_frame(await y.next(), sent, { dest_id: node, session_seq: 1, src_id: APP });
  // Speaking for a node: recipients see that node.
  const as_b = { dest_session_id: S, src_id: B, payload: 'as b' };
  await ws_app.send(as_b);
  assert_frame(await a.next(), as_b, { dest_id: A, session_seq: 2, src_id: B });
  // b's own node gets it too: the app's connection is not one of b's.
  assert_frame(await b.next(), as_b, { dest_id: B, session_seq: 2, src_id: B });
  await ws_app.expect_nothing(200);

  // A member that left is no member any more.
  await api(key_of(B), 'POST', `/v1/sessions/${S}/leave`, {});
  await expect_event(b, -103, S, B);
  await expect_event(a, -103, S, B);
  await b.send({ dest_session_id: S, id: 'b-left' });
  f = await b.next();
  assert.deepEqual(f.json, { type: -5, id: 'b-left', dest_session_id: S, payload: { code: 'session_unauthorized', message: f.json.payload?.message } }, f.text);
  await nothing_more([a]);
  await h.assert_traffic_flows(server);
});

test('ack: true to a session: -7 once stored, members get it with session_seq; a retry is -7 alone', T, async () => {
  const [A, B] = [h.uid('a'), h.uid('b')];
  const a1 = await conn(A);
  const a2 = await conn(A);
  const b = await conn(B);
  const S = await create(A, { node_ids: [B] });
  const sent = { dest_session_id: S, id: 'k1', ack: true, payload: { n: 1 } };
  await a1.send(sent);
  assert.deepEqual((await a1.next()).json, { type: -7, id: 'k1' });
  assert_frame(await b.next(), sent, { dest_id: B, session_seq: 1, src_id: A });
  assert_frame(await a2.next(), sent, { dest_id: A, session_seq: 1, src_id: A });
  // The retry, also from another connection of the same node: -7 alone.
  await a1.send(sent);
  assert.deepEqual((await a1.next()).json, { type: -7, id: 'k1' });
  await a2.send({ ...sent, payload: 'changed' });
  assert.deepEqual((await a2.next()).json, { type: -7, id: 'k1' });
  await nothing_more([a1, a2, b]);
  const next = { dest_session_id: S, id: 'k2', payload: 2 };
  await b.send(next);
  assert_frame(await a1.next(), next, { dest_id: A, session_seq: 2, src_id: B });
  assert_frame(await a2.next(), next, { dest_id: A, session_seq: 2, src_id: B });
  await nothing_more([a1, a2, b]);
});

test('POST /v1/messages to a session: 202 {delivered, stored: [], session_seq}; members get it', T, async () => {
  const [A, B, C] = [h.uid('a'), h.uid('b'), h.uid('c')];
  const a1 = await conn(A);
  const a2 = await conn(A);
  const b = await conn(B);
  const S = await create(A, { node_ids: [B, C] });  // C is offline
  const body = { dest_session_id: S, id: 'pub1', payload: 'from the backend' };
  let r = await api(app, 'POST', '/v1/messages', body);
  assert.equal(r.status, 202, r.text);
  assert.deepEqual(r.json, { delivered: 3, stored: [], session_seq: 1 });
  for (const [x, node] of [[a1, A], [a2, A], [b, B]]) assert_frame(await x.next(), body, { dest_id: node, session_seq: 1, src_id: 'backend' });
  const as_c = { dest_session_id: S, src_id: C, payload: 'as c' };
  r = await api(app, 'POST', '/v1/messages', as_c);
  assert.equal(r.status, 202, r.text);
  assert.deepEqual(r.json, { delivered: 3, stored: [], session_seq: 2 });
  for (const [x, node] of [[a1, A], [a2, A], [b, B]]) assert_frame(await x.next(), as_c, { dest_id: node, session_seq: 2, src_id: C });
  await nothing_more([a1, a2, b]);
});

test('private messages: only the addressed member; offline it goes to its inbox with -4; a non-member is no_destination', T, async () => {
  const [A, B, C, D] = [h.uid('a'), h.uid('b'), h.uid('c'), h.uid('d')];
  const a = await conn(A, { client: 'alice' });
  const b = await conn(B);
  const c = await conn(C);
  const d = await conn(D);
  const S = await create(A, { node_ids: [B, C] });
  const p1 = { dest_session_id: S, dest_id: B, id: 'p1', payload: 'psst' };
  await a.send(p1);
  assert_frame(await b.next(), p1, { dest_id: B, src_id: A, src_client_id: 'alice' });  // live: not stored
  // With ack it is stored in b's inbox: it carries seq, not session_seq.
  const p2 = { dest_session_id: S, dest_id: B, id: 'p2', ack: true, payload: 'stored' };
  await a.send(p2);
  assert_frame(await b.next(), p2, { dest_id: B, seq: 1, src_id: A, src_client_id: 'alice' });
  assert.deepEqual((await a.next()).json, { type: -7, id: 'p2' });
  await nothing_more([a, c, d]);

  await c.close();
  const p3 = { dest_session_id: S, dest_id: C, id: 'p3', payload: 'while away' };
  await a.send(p3);
  assert.deepEqual((await a.next()).json, { type: -4, id: 'p3', src_id: C });
  const c2 = await conn(C);
  assert_frame(await c2.next(), p3, { dest_id: C, seq: 1, src_id: A, src_client_id: 'alice' });

  // Not a member: no_destination; a non-member sender: -5.
  await a.send({ dest_session_id: S, dest_id: D, id: 'p4', payload: 'x' });
  h.assert_error_frame(await a.next(), 'no_destination', 'p4');
  await d.send({ dest_session_id: S, dest_id: B, id: 'p5' });
  const f = await d.next();
  assert.deepEqual(f.json, { type: -5, id: 'p5', dest_session_id: S, payload: { code: 'session_unauthorized', message: f.json.payload?.message } }, f.text);
  await nothing_more([a, b, c2, d]);
  // Private messages take no place in the session's log.
  const all = { dest_session_id: S, id: 'all' };
  await b.send(all);
  assert_frame(await a.next(), all, { dest_id: A, session_seq: 1, src_id: B });
  assert_frame(await c2.next(), all, { dest_id: C, session_seq: 1, src_id: B });
  await h.assert_traffic_flows(server);
});

test('game session: a member\'s message goes to the game master only; the master\'s and an app\'s to every member', T, async () => {
  const [O, G, M1, M2, APP] = [h.uid('o'), h.uid('gm'), h.uid('m1'), h.uid('m2'), h.uid('app')];
  const o = await conn(O);
  let g1 = await conn(G);
  let g2 = await conn(G);
  const m1 = await conn(M1, { client: 'p1' });
  const m2 = await conn(M2);
  const ws_app = await conn(APP, { role: 'app' });
  const S = await create(O, { session_type: 1, game_master_node_id: G, node_ids: [M1, M2] });

  const move = { dest_session_id: S, id: 'move1', payload: { x: 1 } };
  await m1.send(move);
  for (const g of [g1, g2]) assert_frame(await g.next(), move, { dest_id: G, src_id: M1, src_client_id: 'p1' });
  const owner_move = { dest_session_id: S, id: 'o1', payload: 'owner' };
  await o.send(owner_move);  // the owner is a member like any other
  for (const g of [g1, g2]) assert_frame(await g.next(), owner_move, { dest_id: G, src_id: O });
  await nothing_more([o, m1, m2]);

  const state = { dest_session_id: S, id: 'state1', payload: { board: [1] } };
  await g1.send(state);
  for (const [x, node] of [[g2, G], [o, O], [m1, M1], [m2, M2]]) assert_frame(await x.next(), state, { dest_id: node, session_seq: 1, src_id: G });
  const tick = { dest_session_id: S, id: 'tick', payload: 'app' };
  await ws_app.send(tick);
  for (const [x, node] of [[g1, G], [g2, G], [o, O], [m1, M1], [m2, M2]]) {
    assert_frame(await x.next(), tick, { dest_id: node, session_seq: 2, src_id: APP });
  }
  await nothing_more([g1, g2, o, m1, m2, ws_app]);

  // The master offline: a member's message is stored in its inbox (-4); it
  // comes on connect first, then the log it has not acknowledged.
  await g1.close();
  await g2.close();
  const move2 = { dest_session_id: S, id: 'move2', payload: { x: 2 } };
  await m1.send(move2);
  assert.deepEqual((await m1.next()).json, { type: -4, id: 'move2', src_id: G });
  g1 = await conn(G);
  const got = await g1.take(3);
  assert_frame(got[0], move2, { dest_id: G, seq: 1, src_id: M1, src_client_id: 'p1' });
  assert_frame(got[1], state, { dest_id: G, session_seq: 1, src_id: G });
  assert_frame(got[2], tick, { dest_id: G, session_seq: 2, src_id: APP });
  await nothing_more([g1, o, m2]);
});

test('anonymous members: seen by their anonymous id, without src_client_id; private messages reach them; reveal', T, async () => {
  const [A, B, C] = [h.uid('a'), h.uid('b'), h.uid('c')];
  const a = await conn(A, { client: 'alice' });
  const b = await conn(B, { client: 'bob' });
  const S = await create(A, { anyone_can_join: true, allow_anonymous: true });
  const X = (await join(b.key, S, { anonymous: true })).anonymous_id;
  await expect_event(a, -100, S, X);
  await expect_event(b, -100, S, X);
  const b1 = { dest_session_id: S, id: 'b1', payload: 'who am i' };
  await b.send(b1);
  assert_frame(await a.next(), b1, { dest_id: A, session_seq: 1, src_id: X });
  // A private message to the anonymous id.
  const to_x = { dest_session_id: S, dest_id: X, id: 'to-x', payload: 'hello stranger' };
  await a.send(to_x);
  assert_frame(await b.next(), to_x, { dest_id: B, src_id: A, src_client_id: 'alice' });
  // An offline anonymous member: the -4 names it as addressed.
  const Y = (await join(key_of(C), S, { anonymous: true })).anonymous_id;
  await expect_event(a, -100, S, Y);
  await expect_event(b, -100, S, Y);
  await a.send({ dest_session_id: S, dest_id: Y, id: 'to-y' });
  assert.deepEqual((await a.next()).json, { type: -4, id: 'to-y', src_id: Y });
  // From the anonymous member, privately: still its anonymous id.
  const back = { dest_session_id: S, dest_id: A, id: 'back' };
  await b.send(back);
  assert_frame(await a.next(), back, { dest_id: A, src_id: X });
  // Reveal: -104 to every member, the revealing node included.
  const r = await api(b.key, 'POST', `/v1/sessions/${S}/reveal`);
  assert.equal(r.status, 200, r.text);
  await expect_event(a, -104, S, B, { anonymous_id: X });
  await expect_event(b, -104, S, B, { anonymous_id: X });
  const b2 = { dest_session_id: S, id: 'b2', payload: 'it was me' };
  await b.send(b2);
  assert_frame(await a.next(), b2, { dest_id: A, session_seq: 2, src_id: B, src_client_id: 'bob' });
  // Revealing again, or as a plain member, announces nothing.
  assert.equal((await api(b.key, 'POST', `/v1/sessions/${S}/reveal`)).status, 200);
  assert.equal((await api(a.key, 'POST', `/v1/sessions/${S}/reveal`)).status, 200);
  await nothing_more([a, b]);
});

test('membership events: -100 to every member and the new one, -103 to the rest and the leaver; none on create or a repeat; live only', T, async () => {
  const [A, B, C, D, E, F] = [h.uid('a'), h.uid('b'), h.uid('c'), h.uid('d'), h.uid('e'), h.uid('f')];
  const a1 = await conn(A);
  const a2 = await conn(A);
  const b = await conn(B);
  const c = await conn(C);
  const d = await conn(D);
  const f = await conn(F);
  const S = await create(A, { node_ids: [B, E], anyone_can_join: true, allow_anonymous: true });  // E stays offline
  await nothing_more([a1, a2, b, c, d]);

  await join(c.key, S);
  for (const x of [a1, a2, b, c]) await expect_event(x, -100, S, C);
  await join(c.key, S);  // a repeat: no event
  await join(key_of(A), S, { node_id: D });  // the owner adds d
  for (const x of [a1, a2, b, c, d]) await expect_event(x, -100, S, D);
  const anon = (await join(f.key, S, { anonymous: true })).anonymous_id;
  for (const x of [a1, a2, b, c, d, f]) await expect_event(x, -100, S, anon);
  await nothing_more([a1, a2, b, c, d, f]);

  assert.equal((await api(c.key, 'POST', `/v1/sessions/${S}/leave`, {})).status, 200);
  for (const x of [a1, a2, b, d, f, c]) await expect_event(x, -103, S, C);
  assert.equal((await api(key_of(A), 'POST', `/v1/sessions/${S}/leave`, { node_id: B })).status, 200);
  for (const x of [a1, a2, d, f, b]) await expect_event(x, -103, S, B);
  assert.equal((await api(f.key, 'POST', `/v1/sessions/${S}/leave`, {})).status, 200);
  for (const x of [a1, a2, d, f]) await expect_event(x, -103, S, anon);
  await nothing_more([a1, a2, b, c, d, f]);
  // Those who left get no more session messages.
  const after_leave = { dest_session_id: S, id: 'after' };
  await a1.send(after_leave);
  assert_frame(await a2.next(), after_leave, { dest_id: A, session_seq: 1, src_id: A });
  assert_frame(await d.next(), after_leave, { dest_id: D, session_seq: 1, src_id: A });
  await nothing_more([b, c, f]);
  // Events are not stored: e, offline all along, gets the log entry only.
  const e = await conn(E);
  assert_frame(await e.next(), after_leave, { dest_id: E, session_seq: 1, src_id: A });
  await nothing_more([e]);
});

test('DELETE: each member gets one -103 with itself as src_id (its anonymous id where anonymous); then -6', T, async () => {
  const [A, B, C] = [h.uid('a'), h.uid('b'), h.uid('c')];
  const a = await conn(A);
  const b = await conn(B);
  const c = await conn(C);
  const S = await create(A, { node_ids: [B], allow_anonymous: true });
  const Y = (await join(key_of(A), S, { node_id: C, anonymous: true })).anonymous_id;
  for (const x of [a, b, c]) await expect_event(x, -100, S, Y);
  const r = await api(key_of(A), 'DELETE', `/v1/sessions/${S}`);
  assert.equal(r.status, 200, r.text);
  await expect_event(a, -103, S, A);
  await expect_event(b, -103, S, B);
  await expect_event(c, -103, S, Y);
  await nothing_more([a, b, c]);
  await b.send({ dest_session_id: S, id: 'gone' });
  h.assert_error_frame(await b.next(), 'unknown_session', 'gone');
  await b.send({ dest_session_id: S, dest_id: A, id: 'gone2' });
  h.assert_error_frame(await b.next(), 'unknown_session', 'gone2');
  await nothing_more([a, c]);
  await h.assert_traffic_flows(server);
});
