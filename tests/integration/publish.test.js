// POST /v1/messages (PROTOCOL.md section 9): a backend with the app role
// publishes one message of section 4 and hears what was delivered and
// stored; bad bodies and node keys get the HTTP form of section 8's errors.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const h = require('./lib/harness');

const publish = (server, key, body) =>
  h.http_request(server, { method: 'POST', path: '/v1/messages', headers: { authorization: `Bearer ${key}` }, body });

test('an app publishes to live and offline nodes: 202 with delivered and stored', async (t) => {
  const server = await h.start_server();
  t.after(() => server.stop());
  const app = h.node_key(server, { node: 'backend', role: 'app' });
  const team = 'team' + h.uid('t');
  const live1 = await h.connect(server, { node: h.uid('l1'), client: team });
  const live2 = await h.connect(server, { node: live1.node });  // a second tab
  const off = await h.connect(server, { node: h.uid('off'), client: team });
  await off.close();
  await h.sleep(100);

  let res = await publish(server, app, { dest_client_id: team, id: 'p1', payload: { hello: 'team' } });
  assert.equal(res.status, 202, res.text);
  assert.deepEqual(res.json, { delivered: 2, stored: [{ node_id: off.node, seq: 1 }] });
  for (const c of [live1, live2]) {
    const f = (await c.next()).json;
    assert.equal(f.src_id, 'backend');
    assert.deepEqual(f.payload, { hello: 'team' });
    assert.equal(f.seq, undefined);  // live, not stored
  }

  // Speaking for a node (src_id): recipients see that node and its client.
  const alice = await h.connect(server, { node: h.uid('alice'), client: 'alice' });
  res = await publish(server, app, { dest_id: live1.node, src_id: alice.node, payload: 'as alice' });
  assert.equal(res.status, 202, res.text);
  assert.deepEqual(res.json, { delivered: 2, stored: [] });
  const f = (await live1.next()).json;
  assert.equal(f.src_id, alice.node);
  assert.equal(f.src_client_id, 'alice');
  await live2.next();

  // The offline node gets what was stored for it.
  const back = await h.connect(server, { node: off.node });
  const stored = (await back.next()).json;
  assert.equal(stored.seq, 1);
  assert.equal(stored.id, 'p1');
  await h.assert_traffic_flows(server);
});

test('a publish with ack stores for live nodes too; its retry is a duplicate, not stored again', async (t) => {
  const server = await h.start_server();
  t.after(() => server.stop());
  const app = h.node_key(server, { node: 'backend', role: 'app' });
  const b = await h.connect(server, { node: h.uid('b') });
  const body = { dest_id: b.node, id: 'once', ack: true, payload: 42 };
  let res = await publish(server, app, body);
  assert.equal(res.status, 202, res.text);
  assert.deepEqual(res.json, { delivered: 1, stored: [{ node_id: b.node, seq: 1 }] });
  assert.equal((await b.next()).json.seq, 1);
  res = await publish(server, app, body);
  assert.equal(res.status, 202, res.text);
  assert.deepEqual(res.json, { delivered: 0, stored: [], duplicate: true });
  await b.expect_nothing(300);
  // The id space is the node named by src_id: the same id for another node is new.
  res = await publish(server, app, { ...body, src_id: 'someone' });
  assert.deepEqual(res.json, { delivered: 1, stored: [{ node_id: b.node, seq: 2 }] });
  assert.equal((await b.next()).json.src_id, 'someone');
});

test('bad publishes get section 8 errors over HTTP, and other traffic flows', async (t) => {
  const server = await h.start_server({ args: ['--max-message-bytes', '4096'] });
  t.after(() => server.stop());
  const app = h.node_key(server, { node: 'backend', role: 'app' });
  const b = await h.connect(server, { node: h.uid('b') });
  h.assert_http_error(await publish(server, h.node_key(server, { node: 'n1' }), { dest_id: b.node }), 403, 'forbidden');
  h.assert_http_error(await publish(server, 'not.a.key', { dest_id: b.node }), 401, 'unauthorized');
  h.assert_http_error(await publish(server, app, '{"dest_id":'), 400, 'bad_json');
  h.assert_http_error(await publish(server, app, '[1,2]'), 400, 'not_an_object');
  h.assert_http_error(await publish(server, app, Buffer.from([0x7b, 0xff, 0x7d])), 400, 'bad_json');
  h.assert_http_error(await publish(server, app, { payload: 'nowhere' }), 400, 'no_destination');
  h.assert_http_error(await publish(server, app, { dest_session_id: 'room' }), 404, 'unknown_session');
  h.assert_http_error(await publish(server, app, { dest_client_id: h.uid('nobody') }), 503, 'unavailable');
  h.assert_http_error(await publish(server, app, { dest_id: 'bad id!' }), 400, 'bad_id');
  h.assert_http_error(await publish(server, app, { dest_id: b.node, type: -4 }), 400, 'bad_field');
  h.assert_http_error(await publish(server, app, { dest_id: b.node, ack: true }), 400, 'bad_field');
  h.assert_http_error(await publish(server, app, '{"dest_id":"x","dest_id":"y"}'), 400, 'bad_field');
  const res = await h.http_request(server, { path: '/v1/messages', headers: { authorization: `Bearer ${app}` } });
  h.assert_http_error(res, 405, 'method_not_allowed');
  const head = `{"dest_id":"${b.node}","payload":"`;
  const exactly = head + 'x'.repeat(4096 - head.length - 2) + '"}';
  h.assert_http_error(await publish(server, app, exactly + ' '), 413, 'too_large');
  await b.expect_nothing(200);
  assert.equal((await publish(server, app, exactly)).status, 202);  // exactly the limit
  assert.equal((await b.next()).json.payload.length, 4096 - head.length - 2);
  await h.assert_traffic_flows(server);
});
