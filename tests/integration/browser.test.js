'use strict';
// A real browser (Debian's Chromium, headless) as a node: its own fetch and
// WebSocket against a real server (PROTOCOL.md sections 3, 4 and 8, browsers).
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const fs = require('node:fs');
const http = require('node:http');
const h = require('./lib/harness');

const CHROMIUM = '/usr/bin/chromium';
const skip = fs.existsSync(CHROMIUM) ? false : `${CHROMIUM} is absent (Debian package chromium)`;
const T = { timeout: 30000, skip };

let browser;
let server;
let page_server;    // serves the page; its origin is allowed
let other_origin;   // another page server, not allowed
let page;

function serve_page() {
  const s = http.createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    res.end('<!doctype html><meta charset="utf-8"><title>allspark itest</title><body>itest</body>');
  });
  return new Promise((resolve) => s.listen(0, '127.0.0.1', () => resolve(s)));
}
const origin_of = (s) => `http://127.0.0.1:${s.address().port}`;

before(async () => {
  if (skip) return;
  page_server = await serve_page();
  other_origin = await serve_page();
  server = await h.start_server({ args: ['--allowed-origins', origin_of(page_server)] });
  const { chromium } = require('playwright-core');
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking'] });
}, { timeout: 60000 });

after(async () => {
  await browser?.close();
  await server?.stop();
  page_server?.close();
  other_origin?.close();
});

// Preconnect from the page with fetch; when the browser refuses the cross-origin
// answer (no CORS headers), from node instead. Returns {url, validation_key, via}.
async function preconnect_for(p, key) {
  const r = await p.evaluate(async ({ base, key }) => {
    try {
      const res = await fetch(`${base}/v1/preconnect?auth_key=${encodeURIComponent(key)}`);
      return { ok: true, status: res.status, body: await res.json() };
    } catch (e) {
      return { ok: false, error: String(e) };
    }
  }, { base: server.url, key });
  if (r.ok) {
    assert.equal(r.status, 200, JSON.stringify(r.body));
    return { ...r.body, via: 'browser fetch' };
  }
  const res = await h.preconnect(server, key, { via: 'query' });
  assert.equal(res.status, 200, res.text);
  return { ...res.json, via: `node (browser fetch failed: ${r.error})` };
}

// Opens the page's own WebSocket; resolves with the first frame (the welcome).
function open_in_page(p, url) {
  return p.evaluate((u) => new Promise((resolve, reject) => {
    const ws = new WebSocket(u);
    window.ws = ws;
    window.received = [];
    window.close_code = null;
    ws.onmessage = (e) => {
      window.received.push(e.data);
      if (window.received.length === 1) resolve(e.data);
    };
    ws.onerror = () => reject(new Error('WebSocket error in the page'));
    ws.onclose = (e) => { window.close_code = e.code; reject(new Error(`closed ${e.code}`)); };
  }), url);
}

async function page_frame(p, n) {
  await p.waitForFunction((k) => window.received.length >= k, n, { timeout: 10000 });
  return JSON.parse(await p.evaluate((k) => window.received[k - 1], n));
}

test('a browser tab connects, sends to and receives from a node client', T, async (t) => {
  page = await browser.newPage();
  await page.goto(origin_of(page_server));
  const node = h.uid('tab');
  const key = h.node_key(server, { node, client: 'browser-user' });
  const pc = await preconnect_for(page, key);
  t.diagnostic(`preconnect via ${pc.via}`);
  const welcome = JSON.parse(await open_in_page(page, `${pc.url}?auth_key=${encodeURIComponent(key)}&validation_key=${encodeURIComponent(pc.validation_key)}`));
  assert.equal(welcome.type, -10);
  assert.equal(welcome.payload.node_id, node);
  assert.equal(welcome.payload.client_id, 'browser-user');

  const peer = await h.connect(server, { node: h.uid('peer') });
  await page.evaluate((dest) => window.ws.send(JSON.stringify({ dest_id: dest, type: 3, payload: { hi: 'from the browser \u00e9' } })), peer.node);
  const got = await peer.next();
  assert.equal(got.json.src_id, node);
  assert.equal(got.json.src_client_id, 'browser-user');
  assert.deepEqual(got.json.payload, { hi: 'from the browser \u00e9' });

  await peer.send({ dest_id: node, payload: { hi: 'from node' } });
  const back = await page_frame(page, 2);
  assert.equal(back.src_id, peer.node);
  assert.equal(back.dest_id, node);
  assert.deepEqual(back.payload, { hi: 'from node' });
  await peer.close();
});

test('a ~900 KB message each way, and a fragmented one to the browser', T, async () => {
  assert.ok(page, 'the first browser test opened the page');
  const node = await page.evaluate(() => JSON.parse(window.received[0]).payload.node_id);
  const peer = await h.connect(server, { node: h.uid('peer-big') });
  const before_count = await page.evaluate(() => window.received.length);
  // Browser to node: the page builds it, so nothing this big crosses evaluate().
  const digest = await page.evaluate(async (dest) => {
    let s = '';
    for (let i = 0; s.length < 900 * 1024; i++) s += `${i.toString(36)}-`;
    s += '\u00e9\u20ac\u{1F600}';  // some multi-byte characters, under the 1 MiB limit in all
    window.ws.send(JSON.stringify({ dest_id: dest, payload: s }));
    const bytes = new TextEncoder().encode(s);
    const d = await crypto.subtle.digest('SHA-256', bytes);
    return { length: s.length, sha: Array.from(new Uint8Array(d)).map((b) => b.toString(16).padStart(2, '0')).join('') };
  }, peer.node);
  const big = await peer.next(() => true, 10000);
  assert.equal(big.json.payload.length, digest.length);
  assert.equal(crypto.createHash('sha256').update(big.json.payload).digest('hex'), digest.sha);
  assert.ok(Buffer.byteLength(big.text) > 900 * 1024);

  // Node to browser: 900 KB, then one message sent as three fragments.
  const payload = crypto.randomBytes(450 * 1024).toString('hex');
  await peer.send({ dest_id: node, payload });
  const text = JSON.stringify({ dest_id: node, payload: { fragmented: ['a', 'b', 'c'] } });
  await peer.send(text.slice(0, 10), { fin: false });
  await peer.send(text.slice(10, 25), { fin: false });
  await peer.send(text.slice(25), { fin: true });
  const first = await page_frame(page, before_count + 1);
  assert.equal(first.payload.length, payload.length);
  assert.equal(first.payload, payload);
  const second = await page_frame(page, before_count + 2);
  assert.deepEqual(second.payload, { fragmented: ['a', 'b', 'c'] });
  assert.equal(second.src_id, peer.node);
  assert.equal(await page.evaluate(() => window.close_code), null, 'the browser socket is still open');
  await peer.close();
});

test('CORS: an allowed origin may preconnect with fetch; the preflight needs no key', T, async () => {
  const res = await h.http_request(server, {
    method: 'OPTIONS', path: '/v1/preconnect',
    headers: { origin: origin_of(page_server), 'access-control-request-method': 'GET', 'access-control-request-headers': 'authorization' },
  });
  assert.ok(res.status >= 200 && res.status < 300, `preflight ${res.status} ${res.text}`);
  assert.equal(res.headers['access-control-allow-origin'], origin_of(page_server));
  const p = await browser.newPage();
  await p.goto(origin_of(page_server));
  const key = h.node_key(server, { node: h.uid('cors') });
  const r = await p.evaluate(async ({ base, key }) => {
    try {
      const res = await fetch(`${base}/v1/preconnect`, { headers: { authorization: `Bearer ${key}` } });
      return { status: res.status, body: await res.json() };
    } catch (e) {
      return { error: String(e) };
    }
  }, { base: server.url, key });
  await p.close();
  assert.equal(r.error, undefined, `fetch from an allowed origin failed: ${r.error}`);
  assert.equal(r.status, 200);
  assert.equal(typeof r.body.validation_key, 'string');
  const foreign = await h.http_request(server, {
    method: 'OPTIONS', path: '/v1/preconnect',
    headers: { origin: origin_of(other_origin), 'access-control-request-method': 'GET' },
  });
  assert.equal(foreign.status, 403, foreign.text);
  assert.equal(foreign.headers['access-control-allow-origin'], undefined);
});

test('a page from an origin that is not allowed cannot open a WebSocket', T, async () => {
  const p = await browser.newPage();
  await p.goto(origin_of(other_origin));
  const node = h.uid('foreign');
  const key = h.node_key(server, { node });
  const pc = await h.preconnect(server, key);
  const url = `${pc.json.url}?auth_key=${encodeURIComponent(key)}&validation_key=${encodeURIComponent(pc.json.validation_key)}`;
  const outcome = await p.evaluate((u) => new Promise((resolve) => {
    const ws = new WebSocket(u);
    ws.onopen = () => resolve('open');
    ws.onerror = () => resolve('error');
  }), url);
  await p.close();
  assert.equal(outcome, 'error');
});
