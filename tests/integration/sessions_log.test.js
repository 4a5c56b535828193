// Session logs (PROTOCOL.md sections 3 and 6): one entry per session message
// whatever the number of members, replayed to each member after its inbox
// and before live messages from its cursor on, cursors moved by session acks,
// fetched on demand, trimmed by --log-max, and kept across restarts.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const http = require('node:http');
const h = require('./lib/harness');

const T = { timeout: 120000 };
const metric = (text, name) => Number(new RegExp(`^${name} (\\d+)$`, 'm').exec(text)?.[1]);
const metrics = async (server) => (await h.http_request(server, { path: '/metrics' })).text;
const LOG_WRITTEN = 'allspark_store_log_entries_written_total';
const INBOX_WRITTEN = 'allspark_store_entries_written_total';

function api(server, key, method, path, body) {
  return h.http_request(server, { method, path, body, headers: { authorization: `Bearer ${key}` } });
}
async function create(server, owner, body = {}) {
  const r = await api(server, h.node_key(server, { node: owner }), 'POST', '/v1/sessions', body);
  assert.equal(r.status, 201, r.text);
  return r.json.session_id;
}
// A frame's text as it was (or will be) delivered to another member.
const for_node = (text, from, to) => {
  const head = `{"dest_id":${JSON.stringify(from)},`;
  assert.ok(text.startsWith(head), `not a frame for ${from}: ${text}`);
  return `{"dest_id":${JSON.stringify(to)},${text.slice(head.length)}`;
};
async function fetch_log(c, request, id = 'f') {
  await c.send({ type: -101, id, payload: { fetch_inbox: request } });
  return c.next((f) => f.json?.id === id && [-102, -6, -5].includes(f.json?.type));
}
function assert_minus5(frame, id, s) {
  assert.deepEqual(frame.json, { type: -5, id, dest_session_id: s,
                                 payload: { code: 'session_unauthorized', message: frame.json?.payload?.message } }, frame.text);
  assert.ok(typeof frame.json.payload.message === 'string' && frame.json.payload.message.length > 0, frame.text);
}
// Sends session messages with ack and waits for every -7 (so they are stored).
async function send_acked(c, s, ids, extra = {}) {
  for (const id of ids) {
    await c.send({ dest_session_id: s, id, ack: true, payload: { id }, ...extra });
    assert.deepEqual((await c.next((f) => f.json?.type < 0 && f.json.id === id)).json, { type: -7, id });
  }
}
// Everything a fresh connection of `node` gets within `ms` of quiet.
async function replay_of(server, node, { ms = 400, opts = {} } = {}) {
  const c = await h.connect(server, { node, ...opts });
  const frames = [];
  for (;;) {
    const f = await c.next(() => true, ms).catch(() => null);
    if (!f) break;
    frames.push(f);
  }
  return { c, frames };
}
const seqs = (frames) => frames.map((f) => f.json.session_seq);

test('an offline member gets its inbox, then each session\'s log, exactly as first delivered, then live', T, async (t) => {
  const server = await h.start_server();
  t.after(() => server.stop());
  const [A, B, C] = [h.uid('a'), h.uid('b'), h.uid('c')];
  const a = await h.connect(server, { node: A, client: 'alice' });
  const c = await h.connect(server, { node: C });  // a live witness
  const S1 = await create(server, A, { node_ids: [B, C] });
  const S2 = await create(server, A, { node_ids: [B, C] });
  await a.send({ dest_id: B, id: 'direct', payload: 'inbox' });
  assert.deepEqual((await a.next()).json, { type: -4, id: 'direct', src_id: B });
  const order = [[S1, 's1-1'], [S2, 's2-1'], [S1, 's1-2'], [S2, 's2-2'], [S1, 's1-3']];
  for (const [s, id] of order) a.ws.send(`{"dest_session_id":"${s}","id":"${id}","payload":{"n":[1, 2.50]},"x":null}`);
  const witnessed = new Map();  // id -> text c got
  for (const f of await c.take(order.length)) witnessed.set(f.json.id, f.text);
  await h.sleep(200);  // plain session messages are appended in the background

  const b = await h.connect(server, { node: B });
  await a.send({ dest_session_id: S1, id: 'live', payload: 'now' });
  const got = await b.take(7);
  assert.equal(got[0].json.id, 'direct');
  assert.equal(got[0].json.seq, 1);
  const replay = got.slice(1, 6);
  // Session by session, each oldest first; exactly the bytes c got, for b.
  const ids = replay.map((f) => f.json.id);
  const s1 = ['s1-1', 's1-2', 's1-3'];
  const s2 = ['s2-1', 's2-2'];
  assert.ok([[...s1, ...s2], [...s2, ...s1]].some((x) => JSON.stringify(x) === JSON.stringify(ids)), `replayed: ${ids}`);
  for (const f of replay) assert.equal(f.text, for_node(witnessed.get(f.json.id), C, B));
  assert.equal(got[6].json.id, 'live');
  assert.equal(got[6].json.session_seq, 4);
  await b.expect_nothing(300);
  await h.assert_traffic_flows(server);
});

test('live delivery moves no cursor; a session ack does, never backwards; beyond the newest acknowledges all', T, async (t) => {
  const server = await h.start_server();
  t.after(() => server.stop());
  const [A, B] = [h.uid('a'), h.uid('b')];
  const a = await h.connect(server, { node: A });
  let b = await h.connect(server, { node: B });
  const S = await create(server, A, { node_ids: [B] });
  await send_acked(a, S, ['m1', 'm2']);
  const live = (await b.take(2)).map((f) => f.text);
  await b.send({ dest_session_id: S, id: 'm3', ack: true });  // its own message comes back on its next connection
  assert.deepEqual((await b.next()).json, { type: -7, id: 'm3' });
  live.push(for_node((await a.next()).text, A, B));
  await b.close();

  let r = await replay_of(server, B);
  assert.deepEqual(r.frames.map((f) => f.text), live);
  await r.c.send({ type: -7, dest_session_id: S, seq: 2 });
  await r.c.expect_nothing(200);  // an ack has no answer
  await r.c.close();
  r = await replay_of(server, B);
  assert.deepEqual(r.frames.map((f) => f.text), [live[2]]);
  await r.c.send({ type: -7, dest_session_id: S, seq: 1 });  // backwards: no effect
  await h.sleep(200);
  await r.c.close();
  r = await replay_of(server, B);
  assert.deepEqual(seqs(r.frames), [3]);
  await r.c.send({ type: -7, dest_session_id: S, seq: 1000 });
  await h.sleep(200);
  await r.c.close();
  r = await replay_of(server, B);
  assert.deepEqual(r.frames, []);
  await r.c.close();
  // session_seq goes on after that ack; acks over HTTP do the same.
  await send_acked(a, S, ['m4', 'm5']);
  r = await replay_of(server, B);
  assert.deepEqual(seqs(r.frames), [4, 5]);
  const ack = await api(server, r.c.key, 'POST', '/v1/inbox/ack', { session_id: S, seq: 4 });
  assert.equal(ack.status, 200, ack.text);
  assert.deepEqual(ack.json, {});
  await r.c.close();
  r = await replay_of(server, B);
  assert.deepEqual(seqs(r.frames), [5]);
  // The ack of one tab counts for the node: its other tab's next connection too.
  b = await h.connect(server, { node: B });
  await r.c.send({ type: -7, dest_session_id: S, seq: 5 });
  await h.sleep(200);
  await b.close();
  r = await replay_of(server, B);
  assert.deepEqual(r.frames, []);
});

test('a member that joins starts at the log\'s end; fetch with session_id gives the history, whatever the cursor', T, async (t) => {
  const server = await h.start_server();
  t.after(() => server.stop());
  const [A, C, D, APP] = [h.uid('a'), h.uid('c'), h.uid('d'), h.uid('app')];
  const a = await h.connect(server, { node: A });
  const c = await h.connect(server, { node: C });
  const S = await create(server, A, { node_ids: [C] });
  await send_acked(a, S, ['h1', 'h2', 'h3']);
  const history = (await c.take(3)).map((f) => f.text);
  const join = await api(server, h.node_key(server, { node: A }), 'POST', `/v1/sessions/${S}/join`, { node_id: D });
  assert.equal(join.status, 200, join.text);
  let r = await replay_of(server, D);
  assert.deepEqual(r.frames, []);  // it joined after them
  const d = r.c;

  let f = await fetch_log(d, { session_id: S });
  assert.equal(f.json.type, -102, f.text);
  const p = f.json.payload;
  assert.deepEqual(p.messages, history.map((x) => JSON.parse(for_node(x, C, D))));
  for (const x of history) assert.ok(f.text.includes(for_node(x, C, D)), 'byte for byte as delivered');
  assert.deepEqual([p.from_seq, p.to_seq, p.more], [1, 3, false]);
  assert.ok(Math.abs(p.server_time - Date.now()) < 60000);
  f = await fetch_log(d, { session_id: S, from_seq: 2, to_seq: 3, limit: 1 });
  assert.deepEqual(f.json.payload.messages.map((m) => m.session_seq), [2]);
  assert.deepEqual([f.json.payload.from_seq, f.json.payload.to_seq, f.json.payload.more], [2, 3, true]);
  // Acknowledged entries stay in the history.
  await c.send({ type: -7, dest_session_id: S, seq: 3 });
  await h.sleep(200);
  f = await fetch_log(c, { session_id: S });
  assert.deepEqual(f.json.payload.messages.map((m) => m.session_seq), [1, 2, 3]);
  // Over HTTP, the same payload.
  const http = await api(server, d.key, 'GET', `/v1/inbox?session_id=${S}`);
  assert.equal(http.status, 200, http.text);
  assert.deepEqual(http.json.messages, p.messages);
  assert.deepEqual([http.json.from_seq, http.json.to_seq, http.json.more], [1, 3, false]);
  // An app reads any session's log.
  const app = await h.connect(server, { node: APP, role: 'app' });
  f = await fetch_log(app, { session_id: S });
  assert.equal(f.json.type, -102, f.text);
  assert.deepEqual(f.json.payload.messages.map((m) => m.session_seq), [1, 2, 3]);
  // An empty log.
  const empty = await create(server, A);
  f = await fetch_log(a, { session_id: empty });
  assert.deepEqual(f.json.payload.messages, []);
  assert.deepEqual([f.json.payload.from_seq, f.json.payload.to_seq, f.json.payload.more], [0, 0, false]);
  // A new message reaches d with the next session_seq.
  await a.send({ dest_session_id: S, id: 'h4' });
  assert.equal((await d.next()).json.session_seq, 4);
});

test('session acks and fetches from non-members are -5 (HTTP 403), unknown sessions -6 (HTTP 404); others flow', T, async (t) => {
  const server = await h.start_server();
  t.after(() => server.stop());
  const [A, X] = [h.uid('a'), h.uid('x')];
  const a = await h.connect(server, { node: A });
  const x = await h.connect(server, { node: X });
  const S = await create(server, A);
  await send_acked(a, S, ['one']);
  const unknown = h.uid('nope');
  await x.send({ type: -7, dest_session_id: S, seq: 1, id: 'ack1' });
  assert_minus5(await x.next(), 'ack1', S);
  await x.send({ type: -7, dest_session_id: unknown, seq: 1, id: 'ack2' });
  h.assert_error_frame(await x.next(), 'unknown_session', 'ack2');
  let f = await fetch_log(x, { session_id: S }, 'f1');
  assert.equal(f.json.type, -5, f.text);
  assert.equal(f.json.id, 'f1');
  assert.equal(f.json.payload.code, 'session_unauthorized');
  h.assert_error_frame(await fetch_log(x, { session_id: unknown }, 'f2'), 'unknown_session', 'f2');
  await a.send({ type: -7, dest_session_id: S, seq: 'x', id: 'ack3' });
  h.assert_error_frame(await a.next(), 'bad_field', 'ack3');
  await a.send({ type: -7, dest_session_id: S, seq: -1, id: 'ack4' });
  h.assert_error_frame(await a.next(), 'bad_field', 'ack4');

  const xk = x.key;
  h.assert_http_error(await api(server, xk, 'POST', '/v1/inbox/ack', { session_id: S, seq: 1 }), 403, 'session_unauthorized');
  h.assert_http_error(await api(server, xk, 'POST', '/v1/inbox/ack', { session_id: unknown, seq: 1 }), 404, 'unknown_session');
  h.assert_http_error(await api(server, xk, 'POST', '/v1/inbox/ack', { session_id: 'bad id', seq: 1 }), 400, 'bad_id');
  h.assert_http_error(await api(server, xk, 'GET', `/v1/inbox?session_id=${S}`), 403, 'session_unauthorized');
  h.assert_http_error(await api(server, xk, 'GET', `/v1/inbox?session_id=${unknown}`), 404, 'unknown_session');
  // Nothing moved: a's next connection still gets the entry.
  await a.close();
  const r = await replay_of(server, A);
  assert.deepEqual(r.frames.map((f) => f.json.id), ['one']);
  await h.assert_traffic_flows(server);
});

test('--log-max keeps the newest entries of each session; session_seq goes on', T, async (t) => {
  const server = await h.start_server({ args: ['--log-max', '3'] });
  t.after(() => server.stop());
  const [A, B] = [h.uid('a'), h.uid('b')];
  const a = await h.connect(server, { node: A });
  const S1 = await create(server, A, { node_ids: [B] });
  const S2 = await create(server, A, { node_ids: [B] });
  await send_acked(a, S1, ['a1', 'a2', 'a3', 'a4', 'a5']);
  await send_acked(a, S2, ['b1', 'b2']);
  let r = await replay_of(server, B);
  const of = (s) => seqs(r.frames.filter((f) => f.json.dest_session_id === s));
  assert.deepEqual(of(S1), [3, 4, 5]);
  assert.deepEqual(of(S2), [1, 2]);
  const f = await fetch_log(r.c, { session_id: S1 });
  assert.deepEqual(f.json.payload.messages.map((m) => m.id), ['a3', 'a4', 'a5']);
  assert.deepEqual([f.json.payload.from_seq, f.json.payload.to_seq], [3, 5]);
  await r.c.close();
  await send_acked(a, S1, ['a6']);
  r = await replay_of(server, B);
  assert.deepEqual(seqs(r.frames.filter((x) => x.json.dest_session_id === S1)), [4, 5, 6]);
  // Drops are counted, never silent: a1, a2, then a3.
  const text = await metrics(server);
  assert.equal(metric(text, LOG_WRITTEN), 8);
  assert.equal(metric(text, 'allspark_log_dropped_total\\{reason="log_max"\\}'), 3);
});

test('the offline webhook gets one POST per session message some member missed, none when all are live', T, async (t) => {
  const posts = [];
  const hook = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c) => { body += c; });
    req.on('end', () => { posts.push(JSON.parse(body)); res.writeHead(204).end(); });
  });
  await new Promise((r) => hook.listen(0, '127.0.0.1', r));
  t.after(() => hook.close());
  const server = await h.start_server({ args: ['--offline-webhook', `http://127.0.0.1:${hook.address().port}/hook`] });
  t.after(() => server.stop());
  const [A, B, C, D] = [h.uid('a'), h.uid('b'), h.uid('c'), h.uid('d')];
  const a = await h.connect(server, { node: A });
  const b = await h.connect(server, { node: B });
  const S = await create(server, A, { node_ids: [B, C, D] });
  await a.send({ dest_session_id: S, id: 'm1', payload: 1 });
  await b.next();
  const until = async (n) => {
    for (let i = 0; posts.length < n && i < 100; i++) await h.sleep(50);
    assert.equal(posts.length, n, JSON.stringify(posts));
  };
  await until(1);
  assert.deepEqual(Object.keys(posts[0]).sort(), ['offline_node_ids', 'session_id', 'session_seq', 'src_id']);
  assert.deepEqual({ ...posts[0], offline_node_ids: [...posts[0].offline_node_ids].sort() },
                   { session_id: S, session_seq: 1, src_id: A, offline_node_ids: [C, D].sort() });
  // Ephemeral ones, and those every member got live, call nothing.
  await a.send({ dest_session_id: S, ephemeral: true, payload: 'typing' });
  await b.next();
  const S2 = await create(server, A, { node_ids: [B] });
  await a.send({ dest_session_id: S2, id: 'all-live' });
  await b.next();
  // Over 100 offline members: no list.
  const many = Array.from({ length: 101 }, (_, i) => `${h.uid('off')}-${i}`);
  const S3 = await create(server, A, { node_ids: many });
  await a.send({ dest_session_id: S3, id: 'many' });
  await until(2);
  await h.sleep(300);
  assert.equal(posts.length, 2, JSON.stringify(posts));
  assert.deepEqual(posts[1], { session_id: S3, session_seq: 1, src_id: A });
});

test('a session of 10,000 members: one log write per message, no inbox rows, every member gets it', T, async (t) => {
  const server = await h.start_server();
  t.after(() => server.stop());
  const O = h.uid('owner');
  const prefix = h.uid('m');
  const members = Array.from({ length: 9999 }, (_, i) => `${prefix}-${i}`);
  const o = await h.connect(server, { node: O });
  const live = [];
  for (const i of [0, 5000, 9998]) live.push(await h.connect(server, { node: members[i] }));
  const S = await create(server, O, { node_ids: members });
  const info = await api(server, o.key, 'GET', `/v1/sessions/${S}`);
  assert.equal(info.json.members.length, 10000);
  assert.deepEqual(info.json.members, [...members, O].sort());

  await o.send({ dest_session_id: S, id: 'big1', ack: true, payload: 'to all' });
  assert.deepEqual((await o.next()).json, { type: -7, id: 'big1' });  // no -4 for session messages
  for (const c of live) assert.equal((await c.next()).json.session_seq, 1);
  let text = await metrics(server);
  assert.equal(metric(text, LOG_WRITTEN), 1);
  assert.equal(metric(text, INBOX_WRITTEN), 0);
  assert.equal(metric(text, 'allspark_inbox_stored_total'), 0);

  for (let i = 2; i <= 10; i++) await o.send({ dest_session_id: S, id: `big${i}`, payload: i });
  for (const c of live) assert.deepEqual(seqs(await c.take(9)), [2, 3, 4, 5, 6, 7, 8, 9, 10]);
  for (let tries = 0; metric(text, LOG_WRITTEN) < 10 && tries < 50; tries++) {
    await h.sleep(100);
    text = await metrics(server);
  }
  assert.equal(metric(text, LOG_WRITTEN), 10);
  assert.equal(metric(text, INBOX_WRITTEN), 0);
  await o.expect_nothing(100);
  // Offline members get all ten from the one log.
  for (const i of [1, 7777]) {
    const r = await replay_of(server, members[i]);
    assert.deepEqual(seqs(r.frames), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    assert.equal(r.frames[0].json.dest_id, members[i]);
    await r.c.close();
  }
  await h.assert_traffic_flows(server);
});

test('sessions, members, anonymous ids, logs and cursors survive a restart and a SIGKILL; session_seq goes on', T, async (t) => {
  const dir = h.make_tmp_dir();
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const secret = 'sessions-restart-secret';
  const [A, B, C, D, E] = [h.uid('a'), h.uid('b'), h.uid('c'), h.uid('d'), h.uid('e')];
  const S = h.uid('kept');
  let server = await h.start_server({ dir, secret });
  let a = await h.connect(server, { node: A });
  await create(server, A, { session_id: S, description: 'kept', allow_anonymous: true, anyone_can_join: true,
                            node_ids: [B, C] });
  const anon = await api(server, h.node_key(server, { node: D }), 'POST', `/v1/sessions/${S}/join`, { anonymous: true });
  assert.equal(anon.status, 200, anon.text);
  await send_acked(a, S, ['k1', 'k2', 'k3']);
  let r = await replay_of(server, C);
  const first = r.frames.map((f) => f.text);
  assert.deepEqual(seqs(r.frames), [1, 2, 3]);
  await r.c.send({ type: -7, dest_session_id: S, seq: 2 });
  await h.sleep(200);
  const app = () => h.node_key(server, { node: 'backend', role: 'app' });
  const before = (await api(server, app(), 'GET', `/v1/sessions/${S}`)).json;
  assert.ok(before.members.includes(anon.json.anonymous_id));
  assert.equal((await server.stop()).code, 0);

  server = await h.start_server({ dir, secret });
  assert.deepEqual((await api(server, app(), 'GET', `/v1/sessions/${S}`)).json, before);
  assert.deepEqual((await api(server, h.node_key(server, { node: B }), 'GET', '/v1/sessions')).json, { sessions: [S] });
  h.assert_http_error(await api(server, app(), 'POST', '/v1/sessions', { session_id: S }), 409, 'conflict');
  r = await replay_of(server, B);
  assert.deepEqual(r.frames.map((f) => f.text), first.map((x) => for_node(x, C, B)));
  await r.c.close();
  r = await replay_of(server, C);
  assert.deepEqual(r.frames.map((f) => f.text), [first[2]]);
  const c = r.c;
  a = await h.connect(server, { node: A });
  await send_acked(a, S, ['k4']);
  assert.equal((await c.next()).json.session_seq, 4);
  // A join and an acked message just before a SIGKILL are kept.
  const join = await api(server, h.node_key(server, { node: A }), 'POST', `/v1/sessions/${S}/join`, { node_id: E });
  assert.equal(join.status, 200, join.text);
  await send_acked(a, S, ['k5']);
  server.child.kill('SIGKILL');
  await server.exited;
  for (const x of server.clients) x.terminate();

  server = await h.start_server({ dir, secret });
  t.after(() => server.stop());
  const after_kill = (await api(server, app(), 'GET', `/v1/sessions/${S}`)).json;
  assert.deepEqual(after_kill, { ...before, members: [...before.members, E].sort() });
  r = await replay_of(server, E);
  assert.deepEqual(r.frames.map((f) => f.json.id), ['k5']);  // it joined after k4
  r = await replay_of(server, B);
  assert.deepEqual(r.frames.map((f) => f.json.id), ['k1', 'k2', 'k3', 'k4', 'k5']);
  assert.deepEqual(seqs(r.frames), [1, 2, 3, 4, 5]);
  a = await h.connect(server, { node: A });
  await send_acked(a, S, ['k6']);
  assert.equal((await r.c.next()).json.session_seq, 6);
  await h.assert_traffic_flows(server);
});
