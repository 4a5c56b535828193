'use strict';
// PROTOCOL.md section 4: who gets a message, and what exactly they get.
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const h = require('./lib/harness');

const T = { timeout: 30000 };
let server;

before(async () => { server = await h.start_server(); });
after(async () => { await server?.stop(); });

const conn = (opts) => h.connect(server, opts);
const has_payload = (p) => (f) => JSON.stringify(f.json?.payload) === JSON.stringify(p);

// The delivered object is the sent one with the server's fields set (section 4).
function assert_delivered(frame, sent, { src_id, src_client_id, dest_id, since }) {
  const got = frame.json;
  const expected = { ...sent, src_id, dest_id, timestamp: got.timestamp };
  delete expected.src_client_id;
  delete expected.seq;
  delete expected.session_seq;
  if (src_client_id !== undefined) expected.src_client_id = src_client_id;
  assert.deepEqual(got, expected, frame.text);
  assert.ok(Number.isInteger(got.timestamp), `timestamp ${got.timestamp}`);
  assert.ok(got.timestamp >= since - 1000 && got.timestamp <= Date.now() + 1000, `timestamp ${got.timestamp} not close to now`);
}

test('dest_id reaches that node with src_id, src_client_id, timestamp and dest_id set', T, async () => {
  const a = await conn({ node: h.uid('a'), client: 'client-a' });
  const b = await conn({ node: h.uid('b'), client: 'client-b' });
  const since = Date.now();
  const sent = { dest_id: b.node, type: 5, id: 'm-1', payload: { text: 'hello' } };
  await a.send(sent);
  assert_delivered(await b.next(), sent, { src_id: a.node, src_client_id: 'client-a', dest_id: b.node, since });
  await a.expect_nothing(300);
  await b.expect_nothing(0);
  await a.close();
  await b.close();
});

test('a sender without a client_id gives no src_client_id; type defaults are passed as sent', T, async () => {
  const a = await conn({ node: h.uid('a') });
  const b = await conn({ node: h.uid('b') });
  const since = Date.now();
  const sent = { dest_id: b.node, payload: [1, 2, 3] };
  await a.send(sent);
  assert_delivered(await b.next(), sent, { src_id: a.node, dest_id: b.node, since });
  await a.close();
  await b.close();
});

test('dest_client_id reaches every node of the client, each connection once', T, async () => {
  const client = h.uid('cl');
  const n1 = await conn({ node: h.uid('n1'), client });
  const n2 = await conn({ node: h.uid('n2'), client });
  const n2b = await conn({ node: n2.node, client });
  const stranger = await conn({ node: h.uid('x'), client: h.uid('other') });
  const s = await conn({ node: h.uid('s'), client: 'sender-client' });
  const since = Date.now();
  const sent = { dest_client_id: client, payload: 'to all devices' };
  await s.send(sent);
  assert_delivered(await n1.next(), sent, { src_id: s.node, src_client_id: 'sender-client', dest_id: n1.node, since });
  assert_delivered(await n2.next(), sent, { src_id: s.node, src_client_id: 'sender-client', dest_id: n2.node, since });
  assert_delivered(await n2b.next(), sent, { src_id: s.node, src_client_id: 'sender-client', dest_id: n2.node, since });
  for (const c of [n1, n2, n2b, stranger, s]) await c.expect_nothing(c === n1 ? 400 : 0);
  for (const c of [n1, n2, n2b, stranger, s]) await c.close();
});

test('a node with 3 connections gets the message once on each', T, async () => {
  const node = h.uid('tabs');
  const tabs = [await conn({ node }), await conn({ node }), await conn({ node })];
  const s = await conn({ node: h.uid('s') });
  await s.send({ dest_id: node, payload: { n: 1 } });
  await s.send({ dest_id: node, payload: { n: 2 } });
  for (const t of tabs) {
    assert.deepEqual((await t.take(2)).map((f) => f.json.payload.n), [1, 2]);
  }
  for (const t of tabs) await t.expect_nothing(t === tabs[0] ? 400 : 0);
  for (const c of [...tabs, s]) await c.close();
});

test('never echoed to the sending connection; the same node\'s other tabs get it', T, async () => {
  const node = h.uid('self');
  const tab1 = await conn({ node, client: 'me' });
  const tab2 = await conn({ node, client: 'me' });
  const since = Date.now();
  const sent = { dest_id: node, payload: 'note to self' };
  await tab1.send(sent);
  assert_delivered(await tab2.next(), sent, { src_id: node, src_client_id: 'me', dest_id: node, since });
  await tab1.expect_nothing(400);
  await tab1.close();
  await tab2.close();
});

test('dest_client_id of one\'s own client reaches one\'s other devices, not the sender', T, async () => {
  const client = h.uid('own');
  const phone = await conn({ node: h.uid('phone'), client });
  const laptop = await conn({ node: h.uid('laptop'), client });
  const phone_tab2 = await conn({ node: phone.node, client });
  await phone.send({ dest_client_id: client, payload: 'sync' });
  assert.equal((await laptop.next()).json.dest_id, laptop.node);
  assert.equal((await phone_tab2.next()).json.dest_id, phone.node);
  await phone.expect_nothing(400);
  await laptop.expect_nothing(0);
  await phone_tab2.expect_nothing(0);
  for (const c of [phone, laptop, phone_tab2]) await c.close();
});

test('dest_id with dest_client_id: the union, each node once', T, async () => {
  const client = h.uid('u');
  const m1 = await conn({ node: h.uid('m1'), client });
  const m2 = await conn({ node: h.uid('m2'), client });
  const outsider = await conn({ node: h.uid('out') });
  const s = await conn({ node: h.uid('s') });
  // dest_id names a node of the client: still once.
  await s.send({ dest_id: m1.node, dest_client_id: client, payload: 'one' });
  // dest_id names a node outside the client: it gets it too.
  await s.send({ dest_id: outsider.node, dest_client_id: client, payload: 'two' });
  assert.deepEqual((await m1.take(2)).map((f) => [f.json.payload, f.json.dest_id]), [['one', m1.node], ['two', m1.node]]);
  assert.deepEqual((await m2.take(2)).map((f) => [f.json.payload, f.json.dest_id]), [['one', m2.node], ['two', m2.node]]);
  const o = await outsider.next();
  assert.equal(o.json.payload, 'two');
  assert.equal(o.json.dest_id, outsider.node);
  for (const c of [m1, m2, outsider, s]) await c.expect_nothing(c === m1 ? 400 : 0);
  for (const c of [m1, m2, outsider, s]) await c.close();
});

test('client-supplied src_id, src_client_id, timestamp, seq, session_seq are replaced', T, async () => {
  const a = await conn({ node: h.uid('forger'), client: 'real-client' });
  const b = await conn({ node: h.uid('b') });
  const since = Date.now();
  await a.send({ dest_id: b.node, src_id: 'someone-else', src_client_id: 'evil', timestamp: 1, seq: 99, session_seq: 7, payload: 'x' });
  const f = await b.next();
  assert_delivered(f, { dest_id: b.node, payload: 'x' }, { src_id: a.node, src_client_id: 'real-client', dest_id: b.node, since });
  // A sender with no client cannot slip one in either.
  const anon = await conn({ node: h.uid('noclient') });
  await anon.send({ dest_id: b.node, src_client_id: 'evil', payload: 'y' });
  const g = await b.next();
  assert.equal(g.json.src_id, anon.node);
  assert.equal('src_client_id' in g.json, false, g.text);
  // Nor can it move dest_id: the recipient sees itself.
  for (const c of [a, b, anon]) await c.close();
});

test('an app role may set src_id; a node role may not', T, async () => {
  const app = await conn({ node: h.uid('backend'), role: 'app' });
  const b = await conn({ node: h.uid('b') });
  await app.send({ dest_id: b.node, src_id: 'user-42', payload: 'on behalf' });
  const f = await b.next();
  assert.equal(f.json.src_id, 'user-42', f.text);
  assert.equal(f.json.payload, 'on behalf');
  await app.send({ dest_id: b.node, payload: 'as itself' });
  assert.equal((await b.next()).json.src_id, app.node);
  const plain = await conn({ node: h.uid('plain'), role: 'node' });
  await plain.send({ dest_id: b.node, src_id: 'user-42', payload: 'forged' });
  assert.equal((await b.next()).json.src_id, plain.node);
  for (const c of [app, b, plain]) await c.close();
});

test('payloads and unknown fields are forwarded byte for byte', T, async () => {
  const a = await conn({ node: h.uid('a') });
  const b = await conn({ node: h.uid('b') });
  const values = {
    payload: '{"n":1.50e+3, "big":12345678901234567890123,"s":"\\u00e9\\ud83d\\ude00 \\"q\\" \\\\ \\/","a":[ 1 , {"b" :null} ,[]],"t":true}',
    payload1: '-0.0',
    payload2: '"caf\u00e9 \u{1F600}"',
    custom_field: '{ "deep" : [[[ {"x":1E-7} ]]] }',
    'odd-key.with:chars': '[1.0,2.50,-3e0]',
  };
  const text = `{"dest_id":"${b.node}","type":12,${Object.entries(values).map(([k, v]) => `"${k}":${v}`).join(', ')}}`;
  await a.send(text);
  const f = await b.next();
  for (const [k, v] of Object.entries(values)) {
    assert.ok(f.text.includes(v), `value of ${k} not forwarded byte for byte: ${v}\nreceived: ${f.text}`);
    assert.deepEqual(f.json[k], JSON.parse(v), k);
  }
  assert.equal(f.json.type, 12);
  assert.equal(f.json.src_id, a.node);
  await a.close();
  await b.close();
});

test('a message with no destination and type >= 0 is answered with nothing', T, async () => {
  const client = h.uid('ping');
  const a = await conn({ node: h.uid('a'), client });
  const a2 = await conn({ node: a.node, client });
  const other = await conn({ node: h.uid('o'), client });
  await a.send({});
  await a.send({ type: 0, payload: 'ping' });
  await a.send({ type: 7, id: 'p-1', payload: { x: 1 } });
  for (const c of [a, a2, other]) await c.expect_nothing(c === a ? 500 : 0);
  // The connection still works.
  await a.send({ dest_id: other.node, payload: 'after' });
  assert.equal((await other.next()).json.payload, 'after');
  for (const c of [a, a2, other]) await c.close();
});

test('1000 messages from one connection arrive in order at another', T, async () => {
  const a = await conn({ node: h.uid('a') });
  const b = await conn({ node: h.uid('b') });
  for (let i = 0; i < 1000; i++) a.ws.send(JSON.stringify({ dest_id: b.node, payload: { i } }));
  const got = await b.take(1000, () => true, 20000);
  assert.deepEqual(got.map((f) => f.json.payload.i), Array.from({ length: 1000 }, (_, i) => i));
  await b.expect_nothing(200);
  await a.close();
  await b.close();
});

test('messages from two senders to one node keep each sender\'s order', T, async () => {
  const a = await conn({ node: h.uid('a') });
  const c = await conn({ node: h.uid('c') });
  const b = await conn({ node: h.uid('b') });
  for (let i = 0; i < 200; i++) {
    a.ws.send(JSON.stringify({ dest_id: b.node, payload: { from: 'a', i } }));
    c.ws.send(JSON.stringify({ dest_id: b.node, payload: { from: 'c', i } }));
  }
  const got = (await b.take(400, () => true, 15000)).map((f) => f.json.payload);
  for (const who of ['a', 'c']) {
    assert.deepEqual(got.filter((p) => p.from === who).map((p) => p.i), Array.from({ length: 200 }, (_, i) => i));
  }
  for (const x of [a, b, c]) await x.close();
});

// A fan-out to 64 connections or more makes the shard look for input once
// more before it writes (net/shard.cpp run): what it reads then joins the
// same writes. Each round, four raw senders write ten messages each, in one
// write apiece, and nothing more comes until every member has the round: so
// input found by that second look is the last there is, and a round whose
// input were dropped there would never arrive. Every member must get every
// message once, each sender's in order. One shard, so that all 100 are
// dirtied by one batch (with two, each has about 50, under the 64).
test('four senders to a client of 100 nodes, round by round: every node gets every message once, in order', { timeout: 60000 }, async (t) => {
  const own = await h.start_server({ args: ['--threads', '1'] });
  t.after(() => own.stop());
  const client = h.uid('crowd');
  const members = [];
  for (let i = 0; i < 100; i++) members.push(await h.connect(own, { node: h.uid('m'), client }));
  const senders = [];
  for (let i = 0; i < 4; i++) senders.push(await h.raw_socket(own, { node: h.uid('s') }));
  const rounds = 20;
  const per_round = 10;
  const got = members.map(() => []);
  for (let r = 0; r < rounds; r++) {
    for (const [n, s] of senders.entries()) {
      const frames = [];
      for (let i = 0; i < per_round; i++) {
        const text = JSON.stringify({ dest_client_id: client, payload: { from: n, i: r * per_round + i } });
        frames.push(h.build_frame({ opcode: 1, payload: Buffer.from(text) }));
      }
      s.write(Buffer.concat(frames));
    }
    for (const [k, m] of members.entries()) {
      for (const f of await m.take(senders.length * per_round, () => true, 10000)) got[k].push(f.json.payload);
    }
  }
  for (const payloads of got) {
    for (let n = 0; n < senders.length; n++) {
      assert.deepEqual(payloads.filter((p) => p.from === n).map((p) => p.i), Array.from({ length: rounds * per_round }, (_, i) => i));
    }
  }
  await members[0].expect_nothing(200);
  for (const s of senders) assert.equal(s.protocol_error, null);
  for (const c of members) await c.close();
  for (const s of senders) s.destroy();
});

// The server copies small pieces of a write (frame headers, per-recipient
// heads, bodies under 512 bytes) into one buffer and points at large bodies
// (net/shard.cpp flush). A reader that stops reading makes the writes end
// part way through a frame, so the next write starts inside a copied piece
// or a large body: every byte must still arrive, in order.
test('frames of every size to readers that stop and resume arrive whole and in order', { timeout: 120000 }, async (t) => {
  // Its own server: 4 MiB messages give a 16 MiB send queue per connection
  // (section 8), room for all of it even when the kernel's buffers take nothing.
  const s = await h.start_server({ args: ['--max-message-bytes', String(4 << 20)] });
  t.after(() => s.stop());
  const client = h.uid('cl');
  // Four nodes of one client: every message goes to all four, so that one
  // run cuts many writes part way (each write that fills a socket does).
  const sinks = [];
  for (let k = 0; k < 4; k++) sinks.push(await h.raw_socket(s, { node: h.uid(`sink${k}`), client }));
  const a = await h.connect(s, { node: h.uid('a') });
  // About 11 MB of payload: mostly bodies (payload plus about 100 bytes of
  // fields) on both sides of 512 bytes, tiny ones, and some of 150 KB, so
  // that writes end inside every kind of piece: header, per-recipient head
  // ({"dest_id":...,), copied body, pointed-at body.
  const sizes = [];
  for (let i = 0; i < 20000; i++) {
    if (i % 1000 === 999) sizes.push(150000 + i);
    else if (i % 4 === 0) sizes.push(i % 97);
    else sizes.push(300 + (i % 240));
  }
  const expected = sizes.map((n, i) => `${i}:${String.fromCharCode(97 + (i % 26)).repeat(n)}`);
  const before = sinks.map((k) => k.frames.length);  // the welcomes
  const all_in = () => sinks.every((k, j) => k.frames.length - before[j] >= sizes.length);
  // The readers read in short bursts, so the server's writes keep ending part way.
  let stutter = true;
  const stuttering = (async () => {
    while (stutter) {
      for (const k of sinks) k.socket.resume();
      await h.sleep(2);
      for (const k of sinks) k.socket.pause();
      await h.sleep(8);
    }
    for (const k of sinks) k.socket.resume();
  })();
  for (let i = 0; i < sizes.length; i++) {
    a.ws.send(JSON.stringify({ dest_client_id: client, payload: expected[i] }));
    while (a.ws.bufferedAmount > 1 << 20) await h.sleep(5);
  }
  const deadline = Date.now() + 60000;
  while (!all_in() && Date.now() < deadline) await h.sleep(20);
  stutter = false;
  await stuttering;
  for (const sink of sinks) {
    const got = [];
    while (got.length < sizes.length) {
      got.push(await sink.next((x) => x.opcode === 1 && typeof x.json?.payload === 'string', 15000));
    }
    assert.equal(sink.protocol_error, null);
    for (let i = 0; i < sizes.length; i++) {
      assert.equal(got[i].json.payload, expected[i], `${sink.node}: frame ${i} (${sizes[i]} bytes of payload)`);
      assert.equal(got[i].json.dest_id, sink.node, got[i].text.slice(0, 120));
      assert.equal(got[i].json.src_id, a.node);
    }
    assert.ok(sink.frames.every((f) => f.opcode !== 8), `${sink.node} was not closed`);
  }
  await a.close();
  for (const sink of sinks) sink.destroy();
  await h.assert_traffic_flows(s);
});

test('dest_session_id naming no session gets -6 unknown_session', T, async () => {
  const a = await conn({ node: h.uid('a') });
  const b = await conn({ node: h.uid('b') });
  await a.send({ dest_session_id: h.uid('no-such-session'), id: 'to-room', payload: 'hi' });
  h.assert_error_frame(await a.next(), 'unknown_session', 'to-room');
  await a.send({ dest_session_id: h.uid('no-such-session'), dest_id: b.node, id: 'private' });
  h.assert_error_frame(await a.next(), 'unknown_session', 'private');
  await b.expect_nothing(300);
  await a.send({ dest_id: b.node, payload: 'still open' });
  assert.equal((await b.next()).json.payload, 'still open');
  await a.close();
  await b.close();
});
