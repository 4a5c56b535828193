// Fetching the inbox on demand (PROTOCOL.md section 6):
// {"type": -101, "payload": {"fetch_inbox": {...}}} answered by -102.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const h = require('./lib/harness');

const fetch_inbox = async (client, request, id) => {
  await client.send({ type: -101, ...(id ? { id } : {}), payload: { fetch_inbox: request } });
  return client.next((f) => f.json?.type === -102 || f.json?.type === -6);
};

// Stores `count` messages for a new node, connects it, and returns the client
// with the replayed frames taken.
async function with_inbox(server, count, payload = (i) => ({ i })) {
  const a = await h.connect(server, { node: h.uid('a') });
  const bob = h.uid('bob');
  for (let i = 1; i <= count; i++) await a.send({ dest_id: bob, payload: payload(i) });
  await a.take(count, (f) => f.json?.type === -4, 20000);
  const b = await h.connect(server, { node: bob });
  const replayed = await b.take(count, () => true, 20000);
  return { a, b, replayed };
}

test('fetch_inbox: defaults, a range, a limit, each message exactly as delivered', async (t) => {
  const server = await h.start_server();
  t.after(() => server.stop());
  const { b, replayed } = await with_inbox(server, 5);
  let r = await fetch_inbox(b, {}, 'f1');
  assert.equal(r.json.type, -102, r.text);
  assert.equal(r.json.id, 'f1');
  assert.deepEqual(r.json.payload.messages, replayed.map((f) => f.json));
  assert.ok(r.text.includes(replayed[0].text), 'byte for byte as first delivered');
  assert.equal(r.json.payload.from_seq, 1);
  assert.equal(r.json.payload.to_seq, 5);
  assert.equal(r.json.payload.more, false);
  assert.ok(Math.abs(r.json.payload.server_time - Date.now()) < 60000);

  r = await fetch_inbox(b, { from_seq: 2, to_seq: 3 });
  assert.deepEqual(r.json.payload.messages.map((m) => m.seq), [2, 3]);
  assert.deepEqual([r.json.payload.from_seq, r.json.payload.to_seq, r.json.payload.more], [2, 3, false]);

  r = await fetch_inbox(b, { limit: 2 });
  assert.deepEqual(r.json.payload.messages.map((m) => m.seq), [1, 2]);
  assert.equal(r.json.payload.more, true);

  r = await fetch_inbox(b, { from_seq: 4, limit: 2 });
  assert.deepEqual(r.json.payload.messages.map((m) => m.seq), [4, 5]);
  assert.equal(r.json.payload.more, false);

  // Acknowledged entries are gone from the inbox.
  await b.send({ type: -7, seq: 3 });
  r = await fetch_inbox(b, {});
  assert.deepEqual(r.json.payload.messages.map((m) => m.seq), [4, 5]);
  assert.deepEqual([r.json.payload.from_seq, r.json.payload.to_seq], [4, 5]);
});

test('fetch_inbox: an empty inbox answers no messages, range 0 to 0', async (t) => {
  const server = await h.start_server();
  t.after(() => server.stop());
  const c = await h.connect(server, { node: h.uid('empty') });
  const r = await fetch_inbox(c, {});
  assert.deepEqual(r.json.payload.messages, []);
  assert.deepEqual([r.json.payload.from_seq, r.json.payload.to_seq, r.json.payload.more], [0, 0, false]);
});

test('fetch_inbox: 1 MiB of messages per answer, at least one', async (t) => {
  const server = await h.start_server({ args: ['--max-message-bytes', String(2 * 1024 * 1024)] });
  t.after(() => server.stop());
  const big = (i) => ({ i, pad: 'x'.repeat(i === 3 ? 1536 * 1024 : 400 * 1024) });
  const { b } = await with_inbox(server, 3, big);
  let r = await fetch_inbox(b, {});
  assert.deepEqual(r.json.payload.messages.map((m) => m.seq), [1, 2]);  // a third would pass 1 MiB
  assert.equal(r.json.payload.more, true);
  r = await fetch_inbox(b, { from_seq: 3 });
  assert.deepEqual(r.json.payload.messages.map((m) => m.seq), [3]);  // alone over the budget, still given
  assert.equal(r.json.payload.more, false);
});

test('fetch_inbox: bad requests get bad_field (or unknown_session) and harm no one', async (t) => {
  const server = await h.start_server();
  t.after(() => server.stop());
  const { b } = await with_inbox(server, 2);
  const bad = [
    [{ limit: 0 }, 'bad_field'], [{ limit: 1001 }, 'bad_field'], [{ limit: 'x' }, 'bad_field'],
    [{ limit: 2.5 }, 'bad_field'], [{ from_seq: -1 }, 'bad_field'], [{ to_seq: 'a' }, 'bad_field'],
    [{ from_seq: 5, to_seq: 2 }, 'bad_field'], [{ from_seq: 1e30 }, 'bad_field'],
    [{ session_id: 'no-such-room' }, 'unknown_session'],
  ];
  for (const [request, code] of bad) {
    const r = await fetch_inbox(b, request, 'bad');
    h.assert_error_frame(r, code, 'bad');
  }
  for (const payload of [undefined, 7, { other: 1 }, { fetch_inbox: [1] }]) {
    await b.send({ type: -101, id: 'shape', ...(payload === undefined ? {} : { payload }) });
    h.assert_error_frame(await b.next(), 'bad_field', 'shape');
  }
  // The inbox is intact and others still talk.
  const r = await fetch_inbox(b, {});
  assert.deepEqual(r.json.payload.messages.map((m) => m.seq), [1, 2]);
  await h.assert_traffic_flows(server);
});

test('GET /v1/inbox and POST /v1/inbox/ack do over HTTP what -101 and -7 do', async (t) => {
  const server = await h.start_server();
  t.after(() => server.stop());
  const { b, replayed } = await with_inbox(server, 3);
  const auth = { authorization: `Bearer ${b.key}` };
  let r = await h.http_request(server, { path: '/v1/inbox', headers: auth });
  assert.equal(r.status, 200, r.text);
  assert.match(r.headers['content-type'], /^application\/json/);
  assert.deepEqual(r.json.messages, replayed.map((f) => f.json));
  assert.deepEqual([r.json.from_seq, r.json.to_seq, r.json.more], [1, 3, false]);
  r = await h.http_request(server, { path: '/v1/inbox?from_seq=2&limit=1', headers: auth });
  assert.deepEqual(r.json.messages.map((m) => m.seq), [2]);
  assert.equal(r.json.more, true);

  r = await h.http_request(server, { method: 'POST', path: '/v1/inbox/ack', headers: auth, body: { seq: 2 } });
  assert.equal(r.status, 200, r.text);
  r = await h.http_request(server, { path: '/v1/inbox', headers: auth });
  assert.deepEqual(r.json.messages.map((m) => m.seq), [3]);

  // Bad input over HTTP: the section 8 shapes.
  for (const q of ['limit=0', 'limit=1001', 'limit=x', 'from_seq=-1', 'from_seq=5&to_seq=1', 'to_seq=1.5']) {
    h.assert_http_error(await h.http_request(server, { path: `/v1/inbox?${q}`, headers: auth }), 400, 'bad_field');
  }
  h.assert_http_error(await h.http_request(server, { path: '/v1/inbox?session_id=room', headers: auth }), 404, 'unknown_session');
  h.assert_http_error(await h.http_request(server, { path: '/v1/inbox' }), 401, 'unauthorized');
  h.assert_http_error(await h.http_request(server, { method: 'POST', path: '/v1/inbox' }), 405, 'method_not_allowed');
  const post = (body) => h.http_request(server, { method: 'POST', path: '/v1/inbox/ack', headers: auth, body });
  h.assert_http_error(await post('{"seq":'), 400, 'bad_json');
  h.assert_http_error(await post('[1]'), 400, 'not_an_object');
  h.assert_http_error(await post({ seq: 'x' }), 400, 'bad_field');
  h.assert_http_error(await post('{"seq":1,"seq":2}'), 400, 'bad_field');
  h.assert_http_error(await post({ session_id: 'room', seq: 1 }), 404, 'unknown_session');
  h.assert_http_error(await h.http_request(server, { path: '/v1/inbox/ack', headers: auth }), 405, 'method_not_allowed');
  r = await h.http_request(server, { path: '/v1/inbox', headers: auth });
  assert.deepEqual(r.json.messages.map((m) => m.seq), [3]);  // nothing lost
  await h.assert_traffic_flows(server);
});

test('POST /v1/connections/{node_id}/close (app role) closes every connection of the node with 4003', async (t) => {
  const server = await h.start_server();
  t.after(() => server.stop());
  const node = h.uid('victim');
  const tab1 = await h.connect(server, { node });
  const tab2 = await h.connect(server, { node });
  const app = h.node_key(server, { node: 'backend', role: 'app' });
  const close = (id, key) => h.http_request(server, { method: 'POST', path: `/v1/connections/${id}/close`,
                                                      headers: { authorization: `Bearer ${key}` } });
  h.assert_http_error(await close(node, h.node_key(server, { node: 'someone' })), 403, 'forbidden');
  assert.ok(tab1.open && tab2.open);
  const r = await close(node, app);
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(r.json, { closed: 2 });
  assert.equal((await tab1.closed).code, 4003);
  assert.equal((await tab2.closed).code, 4003);
  assert.deepEqual((await close('nobody-here', app)).json, { closed: 0 });
  h.assert_http_error(await close('bad%20id', app), 400, 'bad_id');
  await h.assert_traffic_flows(server);
});
