// The offline webhook (PROTOCOL.md section 6) against a real HTTP receiver,
// and push keys set with {"type": -101, "payload": {"push_key": ...}}.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const http = require('node:http');
const h = require('./lib/harness');

// A receiver on 127.0.0.1 that records POSTs; `fail_first` answers 500 that many times.
async function receiver({ fail_first = 0 } = {}) {
  const posts = [];
  let failures = 0;
  const srv = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c) => { body += c; });
    req.on('end', () => {
      if (failures < fail_first) {
        failures++;
        res.writeHead(500).end();
        return;
      }
      posts.push({ method: req.method, url: req.url, type: req.headers['content-type'], json: JSON.parse(body) });
      res.writeHead(204).end();
    });
  });
  await new Promise((r) => srv.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${srv.address().port}/hook`, posts, close: () => srv.close() };
}

async function until(pred, ms = 10000) {
  const deadline = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > deadline) throw new Error('timed out waiting');
    await h.sleep(20);
  }
}

const metric = (text, name) => Number(new RegExp(`^${name} (\\d+)$`, 'm').exec(text)?.[1]);

test('a message stored for an offline node POSTs {node_id, seq, src_id, push_key}; live and ephemeral ones do not', async (t) => {
  const hook = await receiver();
  t.after(() => hook.close());
  const dir = h.make_tmp_dir();
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  let server = await h.start_server({ dir, secret: 'hook-secret', args: ['--offline-webhook', hook.url] });
  const bob = h.uid('bob');
  const b = await h.connect(server, { node: bob });
  await b.send({ type: -101, id: 'pk', payload: { push_key: 'fcm:abc "quoted"' } });
  assert.deepEqual((await b.next()).json, { type: -102, id: 'pk', payload: { push_key: 'fcm:abc "quoted"' } });
  await b.send({ type: -101, id: 'bad', payload: { push_key: 42 } });
  h.assert_error_frame(await b.next(), 'bad_field', 'bad');
  const a = await h.connect(server, { node: h.uid('a') });
  await a.send({ dest_id: bob, payload: 'live' });  // bob is online: no webhook
  await b.next();
  await b.close();
  await a.send({ dest_id: bob, id: 'm1', payload: 'stored' });
  await a.next((f) => f.json?.type === -4);
  await a.send({ dest_id: bob, ephemeral: true, payload: 'typing' });
  const carol = h.uid('carol');  // no push key
  await a.send({ dest_id: carol, id: 'm2' });
  await a.next((f) => f.json?.type === -4);
  await until(() => hook.posts.length >= 2);
  await h.sleep(300);
  assert.equal(hook.posts.length, 2, JSON.stringify(hook.posts));
  const by_node = Object.fromEntries(hook.posts.map((p) => [p.json.node_id, p]));
  assert.deepEqual(by_node[bob].json, { node_id: bob, seq: 1, src_id: a.node, push_key: 'fcm:abc "quoted"' });
  assert.deepEqual(by_node[carol].json, { node_id: carol, seq: 1, src_id: a.node });
  assert.equal(by_node[bob].method, 'POST');
  assert.equal(by_node[bob].url, '/hook');
  assert.match(by_node[bob].type, /^application\/json/);
  assert.equal((await server.stop()).code, 0);

  // The push key survives a restart.
  server = await h.start_server({ dir, secret: 'hook-secret', args: ['--offline-webhook', hook.url] });
  t.after(() => server.stop());
  const a2 = await h.connect(server, { node: h.uid('a') });
  await a2.send({ dest_id: bob, id: 'm3' });
  await until(() => hook.posts.length >= 3);
  assert.deepEqual(hook.posts[2].json, { node_id: bob, seq: 2, src_id: a2.node, push_key: 'fcm:abc "quoted"' });
});

test('a receiver answering 500 is retried; a dead one never slows routing, and failures are counted', async (t) => {
  const flaky = await receiver({ fail_first: 2 });
  t.after(() => flaky.close());
  let server = await h.start_server({ args: ['--offline-webhook', flaky.url] });
  const a = await h.connect(server, { node: h.uid('a') });
  await a.send({ dest_id: h.uid('off'), id: 'r1' });
  await a.next((f) => f.json?.type === -4);
  await until(() => flaky.posts.length === 1);
  let text = (await h.http_request(server, { path: '/metrics' })).text;
  assert.equal(metric(text, 'allspark_webhook_retries_total'), 2);
  assert.equal(metric(text, 'allspark_webhook_delivered_total'), 1);
  await server.stop();

  // Nobody listens on this port: every POST fails, routing goes on at full speed.
  const dead = await receiver();
  dead.close();
  server = await h.start_server({ args: ['--offline-webhook', dead.url] });
  t.after(() => server.stop());
  const s = await h.connect(server, { node: h.uid('s') });
  const started = Date.now();
  for (let i = 0; i < 200; i++) s.ws.send(JSON.stringify({ dest_id: h.uid('off'), id: `d${i}` }));
  await s.take(200, (f) => f.json?.type === -4, 10000);
  assert.ok(Date.now() - started < 10000);
  await h.assert_traffic_flows(server);
  text = (await h.http_request(server, { path: '/metrics' })).text;
  assert.equal(metric(text, 'allspark_webhook_posted_total'), 200);
  assert.equal(metric(text, 'allspark_webhook_delivered_total'), 0);
});
