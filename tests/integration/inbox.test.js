// The node inbox (PROTOCOL.md sections 3 and 6): messages for nodes with no
// live connection are stored with a per-node seq, the sender hears -4 once
// they are stored, and the node gets them on every new connection, before any
// live message, until it acknowledges them. They survive SIGTERM and SIGKILL.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const h = require('./lib/harness');

const metric = (text, name) => Number(new RegExp(`^${name} (\\d+)$`, 'm').exec(text)?.[1]);

test('offline dest_id: -4 once stored; the inbox comes on connect, oldest first, before live messages', async (t) => {
  const server = await h.start_server();
  t.after(() => server.stop());
  const a = await h.connect(server, { node: h.uid('a'), client: 'alice' });
  const bob = h.uid('bob');
  for (let i = 0; i < 3; i++) a.ws.send(`{"dest_id":"${bob}","id":"m${i}","payload":{"i":${i}},"extra":[1, 2.50]}`);
  for (let i = 0; i < 3; i++) {
    const four = await a.next();
    assert.deepEqual(four.json, { type: -4, id: `m${i}`, src_id: bob });
  }
  await a.send({ dest_id: bob, payload: 'no id' });
  assert.deepEqual((await a.next()).json, { type: -4, src_id: bob });

  const b = await h.connect(server, { node: bob });
  await a.send({ dest_id: bob, payload: 'live' });
  const frames = await b.take(5);
  for (let i = 0; i < 3; i++) {
    const f = frames[i].json;
    assert.equal(f.seq, i + 1);
    assert.equal(f.dest_id, bob);
    assert.equal(f.src_id, a.node);
    assert.equal(f.src_client_id, 'alice');
    assert.equal(f.id, `m${i}`);
    assert.deepEqual(f.payload, { i });
    assert.ok(frames[i].text.includes('"extra":[1, 2.50]'), frames[i].text);  // byte for byte
    assert.equal(typeof f.timestamp, 'number');
  }
  assert.equal(frames[3].json.seq, 4);
  assert.equal(frames[4].json.payload, 'live');
  assert.equal(frames[4].json.seq, undefined);  // live: no seq
  await h.assert_traffic_flows(server);
});

test('-7 acknowledges up to a seq; a new connection gets only what is left; seq keeps growing', async (t) => {
  const server = await h.start_server();
  t.after(() => server.stop());
  const a = await h.connect(server, { node: h.uid('a') });
  const bob = h.uid('bob');
  for (let i = 1; i <= 4; i++) await a.send({ dest_id: bob, id: `m${i}` });
  await a.take(4, (f) => f.json?.type === -4);
  let b = await h.connect(server, { node: bob });
  assert.deepEqual((await b.take(4)).map((f) => f.json.seq), [1, 2, 3, 4]);
  await b.send({ type: -7, seq: 2 });
  await h.sleep(100);
  await b.close();
  b = await h.connect(server, { node: bob });
  assert.deepEqual((await b.take(2)).map((f) => f.json.seq), [3, 4]);
  await b.expect_nothing(200);
  // A seq beyond the newest acknowledges everything.
  await b.send({ type: -7, seq: 1000 });
  await h.sleep(100);
  await b.close();
  b = await h.connect(server, { node: bob });
  await b.expect_nothing(300);
  await b.close();
  await a.send({ dest_id: bob, id: 'm5' });
  await a.next((f) => f.json?.type === -4);
  b = await h.connect(server, { node: bob });
  assert.equal((await b.next()).json.seq, 5);
  // Bad acks get bad_field and harm no one.
  await b.send({ type: -7, id: 'bad1' });
  h.assert_error_frame(await b.next(), 'bad_field', 'bad1');
  await b.send({ type: -7, seq: 'x', id: 'bad2' });
  h.assert_error_frame(await b.next(), 'bad_field', 'bad2');
  await b.send({ type: -7, seq: -1, id: 'bad3' });
  h.assert_error_frame(await b.next(), 'bad_field', 'bad3');
  await h.assert_traffic_flows(server);
});

test('dest_client_id: live nodes get it, offline nodes of the client get it stored with one -4 each', async (t) => {
  const server = await h.start_server();
  t.after(() => server.stop());
  const client = h.uid('carol');
  const phone = await h.connect(server, { node: h.uid('phone'), client });
  const laptop = await h.connect(server, { node: h.uid('laptop'), client });
  const tablet = await h.connect(server, { node: h.uid('tablet'), client });
  await laptop.close();
  await tablet.close();
  const s = await h.connect(server, { node: h.uid('s') });
  await s.send({ dest_client_id: client, id: 'hello', payload: 'hi' });
  assert.equal((await phone.next()).json.payload, 'hi');
  const fours = await s.take(2);
  assert.deepEqual(fours.map((f) => f.json.src_id).sort(), [laptop.node, tablet.node].sort());
  for (const f of fours) assert.deepEqual(Object.keys(f.json).sort(), ['id', 'src_id', 'type']);
  await s.expect_nothing(200);
  const back = await h.connect(server, { node: laptop.node, client });
  const got = await back.next();
  assert.equal(got.json.payload, 'hi');
  assert.equal(got.json.dest_id, laptop.node);
  assert.equal(got.json.seq, 1);
});

test('ephemeral messages for an offline node are not stored: no -4, nothing on connect', async (t) => {
  const server = await h.start_server();
  t.after(() => server.stop());
  const a = await h.connect(server, { node: h.uid('a') });
  const bob = h.uid('bob');
  await a.send({ dest_id: bob, id: 'typing', ephemeral: true, payload: 'typing...' });
  await a.expect_nothing(300);
  const b = await h.connect(server, { node: bob });
  await b.expect_nothing(300);
  const text = (await h.http_request(server, { path: '/metrics' })).text;
  assert.equal(metric(text, 'allspark_inbox_ephemeral_dropped_total'), 1);
  assert.equal(metric(text, 'allspark_inbox_stored_total'), 0);
});

test('a large inbox is replayed paced by the send queue: no 4001, all in order, then live', async (t) => {
  const server = await h.start_server();
  t.after(() => server.stop());
  const a = await h.connect(server, { node: h.uid('a') });
  const bob = h.uid('bob');
  const count = 6000;  // about 12 MB: more than a send queue may hold at once
  const pad = 'p'.repeat(2000);
  for (let i = 0; i < count; i++) a.ws.send(JSON.stringify({ dest_id: bob, payload: { i, pad } }));
  await a.take(count, (f) => f.json?.type === -4, 60000);
  const b = await h.connect(server, { node: bob });
  await a.send({ dest_id: bob, payload: { live: true } });
  const got = await b.take(count + 1, () => true, 60000);
  for (let i = 0; i < count; i++) {
    assert.equal(got[i].json.seq, i + 1);
    assert.equal(got[i].json.payload.i, i);
  }
  assert.equal(got[count].json.payload.live, true);
  assert.ok(b.open, `closed: ${JSON.stringify(b.close_info)}`);
});

test('stored messages survive SIGTERM and SIGKILL; seq continues after a restart', async (t) => {
  const dir = h.make_tmp_dir();
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const secret = 'restart-secret';
  let server = await h.start_server({ dir, secret });
  const bob = h.uid('bob');
  let a = await h.connect(server, { node: h.uid('a') });
  await a.send({ dest_id: bob, id: 'before-term' });
  await a.next((f) => f.json?.type === -4);
  assert.equal((await server.stop()).code, 0);

  server = await h.start_server({ dir, secret });
  a = await h.connect(server, { node: h.uid('a') });
  // Every message answered -4 before the SIGKILL must be there afterwards.
  const acked = new Set();
  a.ws.on('message', (m) => {
    const f = JSON.parse(m.toString());
    if (f.type === -4) acked.add(f.id);
  });
  for (let i = 0; i < 2000; i++) a.ws.send(JSON.stringify({ dest_id: bob, id: `k${i}`, payload: i }));
  while (acked.size < 500) await h.sleep(5);
  server.child.kill('SIGKILL');
  await server.exited;
  const acked_before_kill = new Set(acked);

  server = await h.start_server({ dir, secret });
  t.after(() => server.stop());
  const b = await h.connect(server, { node: bob });
  const first = await b.next();
  assert.equal(first.json.id, 'before-term');
  assert.equal(first.json.seq, 1);
  const seen = new Map();
  for (;;) {
    const f = await b.next(() => true, 2000).catch(() => null);
    if (!f) break;
    seen.set(f.json.id, f.json);
  }
  for (const id of acked_before_kill) {
    assert.ok(seen.has(id), `message ${id} was answered -4 but is gone after SIGKILL`);
    assert.equal(seen.get(id).payload, Number(id.slice(1)));
  }
  const seqs = [...seen.values()].map((f) => f.seq);
  assert.deepEqual(seqs, [...seqs].sort((x, y) => x - y));
  // After acknowledging everything, the next seq still grows.
  const last = Math.max(1, ...seqs);
  await b.send({ type: -7, seq: last });
  await h.sleep(100);
  await b.close();
  const c = await h.connect(server, { node: h.uid('c') });
  await c.send({ dest_id: bob, id: 'after' });
  await c.next((f) => f.json?.type === -4);
  const b2 = await h.connect(server, { node: bob });
  assert.equal((await b2.next()).json.seq, last + 1);
});

test('dest_client_id reaches a client\'s offline nodes after a restart too', async (t) => {
  const dir = h.make_tmp_dir();
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const secret = 'members-secret';
  let server = await h.start_server({ dir, secret });
  const client = h.uid('dana');
  const phone = await h.connect(server, { node: h.uid('phone'), client });
  await phone.close();
  assert.equal((await server.stop()).code, 0);

  server = await h.start_server({ dir, secret });
  t.after(() => server.stop());
  const s = await h.connect(server, { node: h.uid('s') });
  await s.send({ dest_client_id: client, id: 'after-restart', payload: 'hi' });
  assert.deepEqual((await s.next()).json, { type: -4, id: 'after-restart', src_id: phone.node });
  const back = await h.connect(server, { node: phone.node, client });
  assert.equal((await back.next()).json.payload, 'hi');
});

test('--inbox-max keeps the newest entries and --retention drops old ones; both counted in /metrics', async (t) => {
  const server = await h.start_server({ args: ['--inbox-max', '3', '--retention', '2s'] });
  t.after(() => server.stop());
  const a = await h.connect(server, { node: h.uid('a') });
  const bob = h.uid('bob');
  for (let i = 1; i <= 5; i++) await a.send({ dest_id: bob, id: `m${i}` });
  await a.take(5, (f) => f.json?.type === -4);
  let b = await h.connect(server, { node: bob });
  assert.deepEqual((await b.take(3)).map((f) => f.json.seq), [3, 4, 5]);
  await b.expect_nothing(200);
  await b.close();
  let text = (await h.http_request(server, { path: '/metrics' })).text;
  assert.equal(metric(text, 'allspark_inbox_dropped_total\\{reason="inbox_max"\\}'), 2);
  // Older than 2 s: gone at the next sweep (each second).
  await h.sleep(3500);
  text = (await h.http_request(server, { path: '/metrics' })).text;
  assert.equal(metric(text, 'allspark_inbox_dropped_total\\{reason="retention"\\}'), 3);
  b = await h.connect(server, { node: bob });
  await b.expect_nothing(300);
});
