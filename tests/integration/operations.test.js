// Operations (PROTOCOL.md section 9 and --ping-interval of section 10):
// /healthz, /metrics, /v1/cluster, SIGTERM draining, pings of idle connections.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const h = require('./lib/harness');

const metric = (text, name) => {
  const m = new RegExp(`^${name.replace(/[{}"]/g, (c) => `\\${c}`)} (\\d+)$`, 'm').exec(text);
  return m ? Number(m[1]) : undefined;
};

test('/healthz serves 200; /metrics counts connections, messages and errors by code', async (t) => {
  const server = await h.start_server();
  t.after(() => server.stop());
  const health = await h.http_request(server, { path: '/healthz' });
  assert.equal(health.status, 200);
  assert.deepEqual(health.json, { status: 'serving' });

  const before = await h.http_request(server, { path: '/metrics' });
  assert.equal(before.status, 200);
  assert.match(before.headers['content-type'], /^text\/plain/);
  assert.equal(metric(before.text, 'allspark_connections'), 0);
  assert.equal(metric(before.text, 'allspark_messages_in_total'), 0);

  const a = await h.connect(server, { node: h.uid('ma') });
  const b = await h.connect(server, { node: h.uid('mb') });
  for (let i = 0; i < 5; i++) await a.send({ dest_id: b.node, payload: i });
  for (let i = 0; i < 5; i++) await b.next((f) => f.json?.payload === i);
  a.ws.send('{not json');
  await a.next((f) => f.json?.type === -6);

  const after = (await h.http_request(server, { path: '/metrics' })).text;
  assert.equal(metric(after, 'allspark_connections'), 2);
  assert.equal(metric(after, 'allspark_connections_total'), 2);
  assert.equal(metric(after, 'allspark_messages_in_total'), 6);
  assert.equal(metric(after, 'allspark_errors_total{code="bad_json"}'), 1);
  assert.equal(metric(after, 'allspark_errors_total{code="bad_field"}'), 0);
  assert.ok(metric(after, 'allspark_bytes_in_total') > 0);
  assert.ok(metric(after, 'allspark_frames_out_total') >= 7);  // 2 welcomes, 5 messages, 1 error
  await a.close();
  await b.close();
});

test('/v1/cluster lists this server for the app role; a node key is 403, no key 401', async (t) => {
  const server = await h.start_server({ args: ['--proxy-url', 'wss://chat.example.test/ws'] });
  t.after(() => server.stop());
  const c = await h.connect(server, { node: h.uid('cl') });
  const app = h.node_key(server, { node: 'backend', role: 'app' });
  const res = await h.http_request(server, { path: '/v1/cluster', headers: { authorization: `Bearer ${app}` } });
  assert.equal(res.status, 200, res.text);
  assert.equal(res.json.servers.length, 1);
  const me = res.json.servers[0];
  const pre = await h.preconnect(server, app);
  assert.equal(me.server_id, pre.json.server_id);
  assert.equal(me.url, `ws://127.0.0.1:${server.port}/v1/connect`);
  assert.equal(me.host, '127.0.0.1');
  assert.equal(me.port, server.port);
  assert.equal(me.proxy_url, 'wss://chat.example.test/ws');
  assert.equal(me.load, 1);
  const node = h.node_key(server, { node: 'someone' });
  h.assert_http_error(await h.http_request(server, { path: '/v1/cluster', headers: { authorization: `Bearer ${node}` } }), 403, 'forbidden');
  h.assert_http_error(await h.http_request(server, { path: '/v1/cluster' }), 401, 'unauthorized');
  await c.close();
});

test('SIGTERM: clients get 1001, /healthz and upgrades answer 503 while draining, exit 0 within 10 s', async (t) => {
  const server = await h.start_server();
  t.after(() => server.stop());
  const polite = await h.connect(server, { node: h.uid('polite') });
  // A raw client that never answers the close keeps the drain going a moment.
  const stubborn = await h.raw_socket(server, { node: h.uid('stubborn') });
  stubborn.socket.pause();
  const started = Date.now();
  server.child.kill('SIGTERM');
  const close = await polite.closed;
  assert.equal(close.code, 1001);
  const health = await h.http_request(server, { path: '/healthz' });
  h.assert_http_error(health, 503, 'unavailable');
  const key = h.node_key(server, { node: h.uid('late') });
  const late = await h.open_ws(h.connect_url(server, { auth_key: key }), {});
  assert.equal(late.status, 503);
  const { code, signal } = await server.exited;
  assert.equal(signal, null);
  assert.equal(code, 0);
  assert.ok(Date.now() - started < 10000);
});

test('--ping-interval: idle connections are pinged; one that never answers is closed with 4000', async (t) => {
  const server = await h.start_server({ args: ['--ping-interval', '1'] });
  t.after(() => server.stop());
  const silent = await h.raw_socket(server, { node: h.uid('silent') });
  const lively = await h.connect(server, { node: h.uid('lively') });  // ws answers pings by itself
  const ping = await silent.next((f) => f.opcode === 9, 3000);
  assert.equal(ping.payload.length, 0);
  await silent.expect_close(4000, 5000);
  await h.sleep(1500);
  assert.ok(lively.open, 'a client that answers pings stays connected');
  await h.assert_traffic_flows(server);
  const text = (await h.http_request(server, { path: '/metrics' })).text;
  assert.ok(metric(text, 'allspark_pings_sent_total') >= 2);
  assert.equal(metric(text, 'allspark_ping_timeouts_total'), 1);
  await lively.close();
});
