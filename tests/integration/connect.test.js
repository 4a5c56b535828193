'use strict';
// PROTOCOL.md section 3: the preconnect answer and the welcome frame.
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const h = require('./lib/harness');

const T = { timeout: 30000 };
const ID = /^[A-Za-z0-9._:@-]{1,128}$/;
let server;

before(async () => { server = await h.start_server(); });
after(async () => { await server?.stop(); });

test('preconnect answers 200 {server_id, url, host, port, validation_key}', T, async () => {
  const res = await h.preconnect(server, h.node_key(server, { node: h.uid('pc') }));
  assert.equal(res.status, 200, res.text);
  assert.match(res.headers['content-type'] ?? '', /^application\/json\b/);
  assert.deepEqual(Object.keys(res.json).sort(), ['host', 'port', 'server_id', 'url', 'validation_key']);
  assert.match(res.json.server_id, ID);
  assert.equal(res.json.url, `ws://127.0.0.1:${server.port}/v1/connect`);
  assert.equal(res.json.host, '127.0.0.1');
  assert.equal(res.json.port, server.port);
  assert.equal(typeof res.json.validation_key, 'string');
  assert.equal(res.json.validation_key.split('.').length, 3, 'the validation key is a JWT');
});

test('the welcome frame is first: node_id, client_id, connection_id, server_id, server_time', T, async () => {
  const node = h.uid('w');
  const before_ms = Date.now();
  const c = await h.connect(server, { node, client: 'client-w' });
  const after_ms = Date.now();
  assert.equal(c.frames.length, 1);
  assert.deepEqual(Object.keys(c.welcome).sort(), ['payload', 'type']);
  assert.equal(c.welcome.type, -10);
  const p = c.welcome.payload;
  assert.deepEqual(Object.keys(p).sort(), ['client_id', 'connection_id', 'node_id', 'server_id', 'server_time']);
  assert.equal(p.node_id, node);
  assert.equal(p.client_id, 'client-w');
  assert.equal(typeof p.connection_id, 'string');
  assert.ok(p.connection_id.length > 0);
  const pc = await h.preconnect(server, c.key);
  assert.equal(p.server_id, pc.json.server_id);
  assert.equal(typeof p.server_time, 'number');
  assert.ok(Number.isInteger(p.server_time), `server_time ${p.server_time} is whole milliseconds`);
  assert.ok(p.server_time >= before_ms - 2000 && p.server_time <= after_ms + 2000,
            `server_time ${p.server_time} not within [${before_ms}, ${after_ms}] +- 2 s`);
  await c.expect_nothing(200);
  await c.close();
});

test('client_id is omitted from the welcome when the key has none', T, async () => {
  const c = await h.connect(server, { node: h.uid('nc') });
  assert.deepEqual(Object.keys(c.welcome.payload).sort(), ['connection_id', 'node_id', 'server_id', 'server_time']);
  await c.close();
});

test('each connection of one node gets its own connection_id', T, async () => {
  const node = h.uid('multi');
  const cs = [await h.connect(server, { node }), await h.connect(server, { node }), await h.connect(server, { node })];
  const ids = cs.map((c) => c.welcome.payload.connection_id);
  assert.equal(new Set(ids).size, 3, `connection ids ${ids}`);
  for (const c of cs) await c.close();
  // A later connection of the same node gets yet another one.
  const again = await h.connect(server, { node });
  assert.ok(!ids.includes(again.welcome.payload.connection_id));
  await again.close();
});

test('proxy_url appears only with --proxy-url, exactly as given', T, async (t) => {
  const s = await h.start_server({ args: ['--proxy-url', 'wss://chat.example.test/allspark'] });
  t.after(() => s.stop());
  const res = await h.preconnect(s, h.node_key(s, { node: h.uid('px') }));
  assert.equal(res.status, 200, res.text);
  assert.deepEqual(Object.keys(res.json).sort(), ['host', 'port', 'proxy_url', 'server_id', 'url', 'validation_key']);
  assert.equal(res.json.proxy_url, 'wss://chat.example.test/allspark');
  assert.equal(res.json.url, `ws://127.0.0.1:${s.port}/v1/connect`);
});

test('--server-id and --advertise-url are what preconnect and the welcome tell', T, async (t) => {
  const s = await h.start_server({ args: ['--server-id', 'srv-fixed.1', '--advertise-url', 'ws://edge.example.test:9000/v1/connect'] });
  t.after(() => s.stop());
  const key = h.node_key(s, { node: h.uid('adv') });
  const res = await h.preconnect(s, key);
  assert.equal(res.status, 200, res.text);
  assert.equal(res.json.server_id, 'srv-fixed.1');
  assert.equal(res.json.url, 'ws://edge.example.test:9000/v1/connect');
  const r = await h.open_ws(h.connect_url(s, { auth_key: key, validation_key: res.json.validation_key }));
  assert.equal(r.status, 101, r.text);
  assert.equal((await r.client.next()).json.payload.server_id, 'srv-fixed.1');
  await r.client.close();
});

test('the generated server_id is kept in the store folder across restarts', T, async (t) => {
  const dir = h.make_tmp_dir();
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const ask = async (s) => (await h.preconnect(s, h.node_key(s, { node: 'n1' }))).json.server_id;
  const first = await h.start_server({ dir });
  const id1 = await ask(first);
  await first.stop();
  const second = await h.start_server({ dir, secret: first.secret });
  t.after(() => second.stop());
  assert.match(id1, ID);
  assert.equal(await ask(second), id1);
});

test('two servers with their own stores have different server_ids', T, async (t) => {
  const s = await h.start_server();
  t.after(() => s.stop());
  const a = (await h.preconnect(server, h.node_key(server, { node: 'n1' }))).json.server_id;
  const b = (await h.preconnect(s, h.node_key(s, { node: 'n1' }))).json.server_id;
  assert.notEqual(a, b);
});

test('a WebSocket upgrade from a foreign Origin gets 403; the server\'s own origin is fine', T, async () => {
  const node = h.uid('origin');
  const key = h.node_key(server, { node });
  const url = async () => h.connect_url(server, { auth_key: key, validation_key: (await h.preconnect(server, key)).json.validation_key });
  const foreign = await h.open_ws(await url(), { headers: { origin: 'http://evil.example.test' } });
  h.assert_http_error(foreign, 403, 'forbidden');
  const other_port = await h.open_ws(await url(), { headers: { origin: `http://127.0.0.1:${server.port + 1}` } });
  h.assert_http_error(other_port, 403, 'forbidden');
  const own = await h.open_ws(await url(), { headers: { origin: `http://127.0.0.1:${server.port}` } });
  assert.equal(own.status, 101, own.text);
  assert.equal((await own.client.next()).json.type, -10);
  await own.client.close();
});

test('a plain GET /v1/connect without an upgrade is 400 bad_field (docs/protocol-notes.md)', T, async () => {
  const node = h.uid('plain');
  const key = h.node_key(server, { node });
  const vk = (await h.preconnect(server, key)).json.validation_key;
  const res = await h.http_request(server, { path: `/v1/connect?auth_key=${encodeURIComponent(key)}&validation_key=${encodeURIComponent(vk)}` });
  h.assert_http_error(res, 400, 'bad_field');
});
