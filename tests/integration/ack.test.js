// `ack: true` (PROTOCOL.md sections 4 and 6): the message is stored in every
// recipient's inbox before it is delivered, live recipients included; the
// sender hears one -7 once every copy is stored, after any -4; a retry of the
// same id is answered -7 alone; order is kept per sender connection across
// ack and plain messages.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const h = require('./lib/harness');

const metric = (text, name) => Number(new RegExp(`^${name} (\\d+)$`, 'm').exec(text)?.[1]);

const fetch_inbox = async (c, body = {}) => {
  await c.send({ type: -101, id: 'f', payload: { fetch_inbox: body } });
  return (await c.next((f) => f.json?.type === -102)).json.payload;
};

test('ack to a live node: it gets the stored copy with its seq, the sender gets -7 {id} alone', async (t) => {
  const server = await h.start_server();
  t.after(() => server.stop());
  const a = await h.connect(server, { node: h.uid('a'), client: 'alice' });
  const b = await h.connect(server, { node: h.uid('b') });
  await a.send({ dest_id: b.node, id: 'm1', ack: true, payload: { x: 1 } });
  const got = await b.next();
  assert.equal(got.json.seq, 1);
  assert.equal(got.json.id, 'm1');
  assert.equal(got.json.src_id, a.node);
  assert.deepEqual(got.json.payload, { x: 1 });
  assert.deepEqual((await a.next()).json, { type: -7, id: 'm1' });
  await a.expect_nothing(200);
  // It is in b's inbox until b acknowledges it: exactly the frame delivered.
  const page = await fetch_inbox(b);
  assert.equal(page.messages.length, 1);
  assert.deepEqual(page.messages[0], got.json);
  await b.close();
  const b2 = await h.connect(server, { node: b.node });
  assert.deepEqual((await b2.next()).json, got.json);  // redelivered until acknowledged
  await b2.send({ type: -7, seq: 1 });
  await h.sleep(100);
  await b2.close();
  const b3 = await h.connect(server, { node: b.node });
  await b3.expect_nothing(300);
  await h.assert_traffic_flows(server);
});

test('ack to a client with live and offline nodes: -4 for the offline one, then one -7', async (t) => {
  const server = await h.start_server();
  t.after(() => server.stop());
  const bob = 'bob' + h.uid('c');
  const on1 = await h.connect(server, { node: h.uid('on1'), client: bob });
  const on2 = await h.connect(server, { node: h.uid('on2'), client: bob });
  const off = await h.connect(server, { node: h.uid('off'), client: bob });
  await off.close();
  await h.sleep(100);
  const a = await h.connect(server, { node: h.uid('a') });
  await a.send({ dest_client_id: bob, id: 'c1', ack: true, payload: 'hi' });
  const answers = await a.take(2);
  assert.deepEqual(answers[0].json, { type: -4, id: 'c1', src_id: off.node });
  assert.deepEqual(answers[1].json, { type: -7, id: 'c1' });
  for (const c of [on1, on2]) {
    const f = (await c.next()).json;
    assert.equal(f.seq, 1);
    assert.equal(f.dest_id, c.node);
  }
  const back = await h.connect(server, { node: off.node });
  const f = (await back.next()).json;
  assert.equal(f.seq, 1);
  assert.equal(f.payload, 'hi');
  await h.assert_traffic_flows(server);
});

test('a retry of an acknowledged id is answered -7 alone: not stored or delivered again', async (t) => {
  const server = await h.start_server();
  t.after(() => server.stop());
  const a = await h.connect(server, { node: h.uid('a') });
  const b = await h.connect(server, { node: h.uid('b') });
  const bob_off = h.uid('off');
  await a.send({ dest_id: b.node, id: 'r1', ack: true, payload: 1 });
  await a.next((f) => f.json?.type === -7);
  await a.send({ dest_id: bob_off, id: 'r2', ack: true, payload: 2 });
  assert.equal((await a.next()).json.type, -4);
  assert.deepEqual((await a.next()).json, { type: -7, id: 'r2' });
  await b.next();
  // The same ids again, also from another connection of the same node (a
  // client that reconnected): only -7.
  const a2 = await h.connect(server, { node: a.node });
  await a2.send({ dest_id: b.node, id: 'r1', ack: true, payload: 'changed' });
  assert.deepEqual((await a2.next()).json, { type: -7, id: 'r1' });
  await a.send({ dest_id: bob_off, id: 'r2', ack: true, payload: 2 });
  assert.deepEqual((await a.next()).json, { type: -7, id: 'r2' });
  await b.expect_nothing(300);
  assert.equal((await fetch_inbox(b)).messages.length, 1);
  const off = await h.connect(server, { node: bob_off });
  assert.equal((await fetch_inbox(off)).messages.length, 1);
  // Another node may use the same id: its own id space.
  const c = await h.connect(server, { node: h.uid('c') });
  await c.send({ dest_id: b.node, id: 'r1', ack: true, payload: 'from c' });
  assert.deepEqual((await c.next()).json, { type: -7, id: 'r1' });
  assert.equal((await b.next()).json.payload, 'from c');
  const text = (await h.http_request(server, { path: '/metrics' })).text;
  assert.equal(metric(text, 'allspark_ack_retries_total'), 2);
  assert.equal(metric(text, 'allspark_acks_total'), 3);
  assert.equal(metric(text, 'allspark_inbox_stored_total'), 3);
  await h.assert_traffic_flows(server);
});

test('order per sender connection is kept across ack and plain messages, to every recipient', async (t) => {
  const server = await h.start_server();
  t.after(() => server.stop());
  const team = 'team' + h.uid('t');
  const members = [];
  for (let i = 0; i < 4; i++) members.push(await h.connect(server, { node: h.uid(`m${i}`), client: team }));
  const a = await h.connect(server, { node: h.uid('a') });
  const n = 300;
  for (let i = 0; i < n; i++) {
    // Runs of ack and plain messages, to the client and to one member alone.
    const ack = Math.floor(i / 3) % 2 === 0;
    const to = i % 5 === 0 ? { dest_id: members[0].node } : { dest_client_id: team };
    a.ws.send(JSON.stringify({ ...to, id: `o${i}`, ...(ack ? { ack: true } : {}), payload: i }));
  }
  for (const [k, m] of members.entries()) {
    const expected = [];
    for (let i = 0; i < n; i++) if (k === 0 || i % 5 !== 0) expected.push(i);
    const got = (await m.take(expected.length, () => true, 15000)).map((f) => f.json.payload);
    assert.deepEqual(got, expected, `member ${k}`);
  }
  let acks = 0;
  for (let i = 0; i < n; i++) if (Math.floor(i / 3) % 2 === 0) acks++;
  const sevens = await a.take(acks, () => true, 15000);
  const ids = sevens.map((f) => f.json.id);
  assert.ok(sevens.every((f) => f.json.type === -7), sevens.map((f) => f.text).join(' '));
  assert.equal(new Set(ids).size, acks);
  await h.assert_traffic_flows(server);
});

test('ack to the sender\'s own node reaches its other tabs, never the sending connection', async (t) => {
  const server = await h.start_server();
  t.after(() => server.stop());
  const node = h.uid('me');
  const tab1 = await h.connect(server, { node });
  const tab2 = await h.connect(server, { node });
  await tab1.send({ dest_id: node, id: 'self', ack: true, payload: 'note to self' });
  assert.deepEqual((await tab1.next()).json, { type: -7, id: 'self' });
  await tab1.expect_nothing(200);
  const f = (await tab2.next()).json;
  assert.equal(f.payload, 'note to self');
  assert.equal(f.seq, 1);
});

test('bad acks: no id, with ephemeral, not a boolean; each is bad_field and others flow', async (t) => {
  const server = await h.start_server();
  t.after(() => server.stop());
  const a = await h.connect(server, { node: h.uid('a') });
  const b = await h.connect(server, { node: h.uid('b') });
  await a.send({ dest_id: b.node, ack: true, payload: 1 });
  h.assert_error_frame(await a.next(), 'bad_field');
  await a.send({ dest_id: b.node, id: 'e1', ack: true, ephemeral: true });
  h.assert_error_frame(await a.next(), 'bad_field', 'e1');
  await a.send({ dest_id: b.node, id: 'e2', ack: 'yes' });
  h.assert_error_frame(await a.next(), 'bad_field', 'e2');
  await b.expect_nothing(200);
  await a.send({ dest_id: b.node, id: 'ok', ack: true });
  assert.equal((await b.next()).json.id, 'ok');
  assert.deepEqual((await a.next()).json, { type: -7, id: 'ok' });
  await h.assert_traffic_flows(server);
});

test('a retry after a restart (even a SIGKILL) is still answered -7 alone within the window', async (t) => {
  const dir = h.make_tmp_dir();
  t.after(() => require('node:fs').rmSync(dir, { recursive: true, force: true }));
  const secret = 'retry-secret';
  const a_node = h.uid('a');
  const bob = h.uid('bob');
  let server = await h.start_server({ dir, secret });
  let a = await h.connect(server, { node: a_node });
  await a.send({ dest_id: bob, id: 'once', ack: true, payload: 'first' });
  assert.equal((await a.next()).json.type, -4);
  assert.deepEqual((await a.next()).json, { type: -7, id: 'once' });
  await h.sleep(300);  // the id is written with the store's next transaction
  server.child.kill('SIGKILL');
  await server.exited;
  server = await h.start_server({ dir, secret });
  t.after(() => server.stop());
  a = await h.connect(server, { node: a_node });
  await a.send({ dest_id: bob, id: 'once', ack: true, payload: 'first' });
  assert.deepEqual((await a.next()).json, { type: -7, id: 'once' });
  await a.expect_nothing(200);
  const b = await h.connect(server, { node: bob });
  assert.equal((await fetch_inbox(b)).messages.length, 1);
  await h.assert_traffic_flows(server);
});
