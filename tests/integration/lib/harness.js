'use strict';
// Drives a real `allspark` binary (ALLSPARK_BIN) with real clients, following
// PROTOCOL.md. Every helper here only speaks the wire protocol: nothing knows
// how the server is built.
const { spawn, spawnSync } = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const http = require('node:http');
const os = require('node:os');
const path = require('node:path');
const assert = require('node:assert/strict');
const WebSocket = require('ws');
const { build_frame, raw_upgrade, send_junk } = require('./raw_socket');

// Whatever a test file leaves behind (a server it did not stop, its folder)
// goes when the file's process exits.
const live_children = new Set();
const owned_dirs = new Set();
process.on('exit', () => {
  for (const child of live_children) child.kill('SIGKILL');
  for (const dir of owned_dirs) fs.rmSync(dir, { recursive: true, force: true });
});

function allspark_bin() {
  const bin = process.env.ALLSPARK_BIN;
  if (!bin) throw new Error('ALLSPARK_BIN is not set: point it at the built allspark binary');
  return path.resolve(bin);
}

let uid_counter = 0;
// A fresh valid id (PROTOCOL.md section 1) so that tests never share nodes.
function uid(prefix = 'n') {
  uid_counter += 1;
  return `${prefix}-${process.pid}-${uid_counter}-${crypto.randomBytes(3).toString('hex')}`;
}

function make_tmp_dir() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'allspark-itest-'));
  owned_dirs.add(dir);
  return dir;
}

// The environment of a child: ours without ALLSPARK_SECRET, plus `extra`.
function child_env(extra = {}) {
  const env = { ...process.env };
  delete env.ALLSPARK_SECRET;
  return { ...env, ...extra };
}

// ALLSPARK_TEST_THREADS (set by ctest: the suite runs with 1 and 2 shards)
// adds `--threads N` to a `serve` that does not name its own --threads.
function with_test_threads(args) {
  const n = process.env.ALLSPARK_TEST_THREADS;
  if (!n || args[0] !== 'serve' || args.includes('--threads') || args.includes('--help')) return args;
  return ['serve', '--threads', n, ...args.slice(1)];
}

// Runs the binary to completion (for `token`, `--help`, bad flags).
function run_cli(args, { env = {}, cwd, timeout = 10000 } = {}) {
  const r = spawnSync(allspark_bin(), with_test_threads(args), { env: child_env(env), cwd: cwd ?? os.tmpdir(),
                                              encoding: 'utf8', timeout });
  if (r.error?.code === 'ETIMEDOUT') {
    return { status: null, signal: r.signal, stdout: r.stdout, stderr: `${r.stderr}(still running after ${timeout} ms, killed)` };
  }
  if (r.error) throw r.error;
  return { status: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
}

// Starts `allspark serve` on 127.0.0.1 with a free port and a fresh SQLite store.
// opts: secret (null: no --secret flag), args (extra flags), env, dir (reuse a
// folder; then it is not removed), store, wrap (argv prefix, e.g. env vars).
// With ALLSPARK_TEST_THREADS set, `--threads N` is added unless args has one.
async function start_server(opts = {}) {
  const owns_dir = !opts.dir;
  const dir = opts.dir ?? make_tmp_dir();
  const secret = opts.secret === undefined ? crypto.randomBytes(24).toString('hex') : opts.secret;
  const store = opts.store ?? `sqlite:${path.join(dir, 'allspark.db')}`;
  const args = ['serve', '--host', '127.0.0.1', '--port', '0', '--store', store];
  if (secret !== null) args.push('--secret', secret);
  args.push(...(opts.args ?? []));
  if (process.env.ALLSPARK_TEST_THREADS && !args.includes('--threads')) args.push('--threads', process.env.ALLSPARK_TEST_THREADS);
  const child = spawn(allspark_bin(), args, { env: child_env(opts.env), cwd: dir,
                                             stdio: ['ignore', 'pipe', 'pipe'] });
  live_children.add(child);
  let stdout = '';
  let stderr = '';
  const cap = (s, chunk) => (s.length > 1 << 20 ? s : s + chunk);
  const exited = new Promise((resolve) => {
    child.on('exit', (code, signal) => {
      live_children.delete(child);
      resolve({ code, signal });
    });
  });
  const port = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`allspark did not print "listening on" within 10 s\nstdout: ${stdout}\nstderr: ${stderr}`));
    }, 10000);
    child.stdout.on('data', (chunk) => {
      stdout = cap(stdout, chunk.toString());
      const m = /listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(stdout);
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    });
    child.stderr.on('data', (chunk) => { stderr = cap(stderr, chunk.toString()); });
    exited.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(new Error(`allspark exited (${code ?? signal}) before listening\nargs: ${args.join(' ')}\nstdout: ${stdout}\nstderr: ${stderr}`));
    });
  }).catch((e) => {
    if (owns_dir) fs.rmSync(dir, { recursive: true, force: true });
    throw e;
  });
  const server = {
    port, secret, dir, store, child, pid: child.pid, args,
    host: '127.0.0.1',
    url: `http://127.0.0.1:${port}`,
    clients: new Set(),
    stdout: () => stdout,
    stderr: () => stderr,
    exited,
    stop: null,
  };
  let stopping = null;
  // SIGTERM, then SIGKILL after 5 s; closes our clients; removes the tmp dir.
  server.stop = () => {
    stopping ??= (async () => {
      for (const c of server.clients) c.terminate();
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
        const r = await exited;
        clearTimeout(timer);
        if (owns_dir && !opts.keep_dir) fs.rmSync(dir, { recursive: true, force: true });
        return r;
      }
      if (owns_dir && !opts.keep_dir) fs.rmSync(dir, { recursive: true, force: true });
      return exited;
    })();
    return stopping;
  };
  return server;
}

// Builds lib/time_shift.c (an LD_PRELOAD shim that moves the wall clock) into
// `dir`; returns the env that shifts a server's clock by `seconds`, or null
// when no C compiler is present.
function time_shift_env(dir, seconds) {
  const so = path.join(dir, 'time_shift.so');
  if (!fs.existsSync(so)) {
    const r = spawnSync('cc', ['-shared', '-fPIC', '-O2', '-o', so, path.join(__dirname, 'time_shift.c'), '-ldl'],
                        { encoding: 'utf8' });
    if (r.error || r.status !== 0) return null;
  }
  // A sanitized server wants its runtime first in the library list; the shim
  // only wraps clock calls, so that check can be relaxed for it.
  const asan = [process.env.ASAN_OPTIONS, 'verify_asan_link_order=0'].filter(Boolean).join(':');
  return { LD_PRELOAD: so, ALLSPARK_TEST_TIME_OFFSET: String(seconds), ASAN_OPTIONS: asan };
}

function rss_bytes(pid) {
  const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) * 1024 : 0;
}

// --- tokens (PROTOCOL.md section 2): any JWT library can mint them ---

function b64url(x) {
  return Buffer.from(typeof x === 'string' ? x : JSON.stringify(x)).toString('base64url');
}

// claims: an object, or a string used as the raw payload JSON.
// opts.alg: the header's alg (HS256, HS512, none); opts.header: extra header fields.
function mint_token(claims, secret, opts = {}) {
  const alg = opts.alg ?? 'HS256';
  const header = b64url({ alg, typ: 'JWT', ...(opts.header ?? {}) });
  const payload = b64url(claims);
  const input = `${header}.${payload}`;
  if (alg === 'none') return `${input}.`;
  const hash = { HS256: 'sha256', HS384: 'sha384', HS512: 'sha512' }[alg] ?? 'sha256';
  return `${input}.${crypto.createHmac(hash, secret).update(input).digest('base64url')}`;
}

function node_key(server, { node, client, role, exp, claims } = {}) {
  const c = { sub: node, ...(client ? { client_id: client } : {}), ...(role ? { role } : {}),
              ...(exp !== undefined ? { exp } : {}), ...(claims ?? {}) };
  return mint_token(c, server.secret);
}

// --- HTTP ---

// Returns {status, headers, text, json}; body may be a string, Buffer or object.
function http_request(server, { method = 'GET', path: p = '/', headers = {}, body } = {}) {
  return new Promise((resolve, reject) => {
    let data = body;
    if (data !== undefined && typeof data !== 'string' && !Buffer.isBuffer(data)) data = JSON.stringify(data);
    const h = { ...headers };
    if (data !== undefined && h['content-type'] === undefined) h['content-type'] = 'application/json';
    // node:http sends a GET's body with no framing at all unless told its length.
    if (data !== undefined && h['content-length'] === undefined) h['content-length'] = String(Buffer.byteLength(data));
    const req = http.request({ host: '127.0.0.1', port: server.port, method, path: p, headers: h, agent: false },
                             (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let json;
        try { json = JSON.parse(text); } catch { json = undefined; }
        resolve({ status: res.statusCode, headers: res.headers, text, json });
      });
      res.on('error', reject);
    });
    req.setTimeout(10000, () => req.destroy(new Error(`${method} ${p}: no answer in 10 s`)));
    req.on('error', reject);
    if (data !== undefined) req.end(data); else req.end();
  });
}

// An HTTP error of section 8: status, JSON content type, {"error":{"code","message"}}.
function assert_http_error(res, status, code) {
  const where = `${res.status} ${res.text}`;
  assert.equal(res.status, status, where);
  assert.match(res.headers['content-type'] ?? '', /^application\/json\b/, where);
  assert.ok(res.json && typeof res.json === 'object', `body is not JSON: ${where}`);
  assert.deepEqual(Object.keys(res.json), ['error'], where);
  assert.deepEqual(Object.keys(res.json.error).sort(), ['code', 'message'], where);
  assert.equal(res.json.error.code, code, where);
  assert.equal(typeof res.json.error.message, 'string', where);
  assert.ok(res.json.error.message.length > 0, where);
}

// GET /v1/preconnect with the key as a Bearer header (via 'header') or query.
function preconnect(server, key, { via = 'header' } = {}) {
  if (via === 'query') {
    return http_request(server, { path: `/v1/preconnect?auth_key=${encodeURIComponent(key)}` });
  }
  return http_request(server, { path: '/v1/preconnect',
                                headers: key === undefined ? {} : { authorization: `Bearer ${key}` } });
}

// --- WebSocket clients (ws) ---

function parse_frame_text(text) {
  try { return JSON.parse(text); } catch { return undefined; }
}

// Records every received frame as {text, json}; next() takes them in order.
class Client {
  constructor(ws) {
    this.ws = ws;
    this.frames = [];     // every frame received
    this.pending = [];    // not yet taken by next()
    this.waiters = [];
    this.close_info = null;
    this.closed = new Promise((resolve) => {
      ws.on('close', (code, reason) => {
        this.close_info = { code, reason: reason.toString() };
        for (const w of this.waiters.splice(0)) w.fail(`socket closed (${code} ${reason})`);
        resolve(this.close_info);
      });
    });
    ws.on('error', () => {});
    ws.on('message', (data, is_binary) => {
      const text = is_binary ? null : data.toString('utf8');
      const frame = { text, binary: is_binary ? data : null, json: text === null ? undefined : parse_frame_text(text) };
      this.frames.push(frame);
      const i = this.waiters.findIndex((w) => w.pred(frame));
      if (i >= 0) this.waiters.splice(i, 1)[0].take(frame);
      else this.pending.push(frame);
    });
  }

  get open() { return this.ws.readyState === WebSocket.OPEN; }

  // The next frame (oldest first) matching pred, within timeout_ms.
  next(pred = () => true, timeout_ms = 3000) {
    const i = this.pending.findIndex(pred);
    if (i >= 0) return Promise.resolve(this.pending.splice(i, 1)[0]);
    return new Promise((resolve, reject) => {
      const waiter = {
        pred,
        take: (f) => { clearTimeout(timer); resolve(f); },
        fail: (why) => {
          clearTimeout(timer);
          reject(new Error(`${this.name ?? 'client'}: ${why} while waiting; unmatched frames: ${this.describe_pending()}`));
        },
      };
      const timer = setTimeout(() => {
        this.waiters.splice(this.waiters.indexOf(waiter), 1);
        waiter.fail(`nothing matching in ${timeout_ms} ms`);
      }, timeout_ms);
      if (this.close_info) waiter.fail(`socket closed (${this.close_info.code})`);
      else this.waiters.push(waiter);
    });
  }

  // n frames matching pred, in arrival order.
  async take(n, pred = () => true, timeout_ms = 5000) {
    const out = [];
    const deadline = Date.now() + timeout_ms;
    while (out.length < n) out.push(await this.next(pred, Math.max(1, deadline - Date.now())));
    return out;
  }

  // Fails if any frame matching pred (any frame by default) arrives within ms.
  async expect_nothing(ms = 300, pred = () => true) {
    await new Promise((r) => setTimeout(r, ms));
    const extra = this.pending.filter(pred);
    assert.equal(extra.length, 0, `${this.name ?? 'client'} got unexpected frames: ${extra.map((f) => f.text).join(' | ')}`);
  }

  describe_pending() {
    return this.pending.slice(-5).map((f) => (f.text ?? '<binary>').slice(0, 300)).join(' | ') || '(none)';
  }

  send(msg, opts = {}) {
    const data = typeof msg === 'string' || Buffer.isBuffer(msg) ? msg : JSON.stringify(msg);
    return new Promise((resolve, reject) => this.ws.send(data, opts, (e) => (e ? reject(e) : resolve())));
  }

  async close(code = 1000) {
    if (this.close_info) return this.close_info;
    this.ws.close(code);
    const t = setTimeout(() => this.ws.terminate(), 2000);
    const r = await this.closed;
    clearTimeout(t);
    return r;
  }

  terminate() { this.ws.terminate(); }
}

// Opens a WebSocket on a ws:// URL; resolves {client} on 101 or {status, headers,
// text, json} when the server refuses the upgrade.
function open_ws(url, { headers = {} } = {}) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers, perMessageDeflate: false, handshakeTimeout: 10000 });
    const client = new Client(ws);
    ws.once('open', () => resolve({ status: 101, client }));
    ws.once('unexpected-response', (req, res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        resolve({ status: res.statusCode, headers: res.headers, text, json: parse_frame_text(text) });
        ws.terminate();
      });
    });
    ws.once('error', (e) => reject(e));
  });
}

function connect_url(server, query) {
  const qs = Object.entries(query).filter(([, v]) => v !== undefined)
    .map(([k, v]) => `${k}=${encodeURIComponent(v)}`).join('&');
  return `ws://127.0.0.1:${server.port}/v1/connect${qs ? `?${qs}` : ''}`;
}

// Preconnect then connect (section 3) as node `node`; resolves once the welcome
// (type -10, the first frame) has arrived. opts: node, client, role, exp, claims,
// key (instead of minting one), validation (false: send none), headers.
async function connect(server, opts = {}) {
  const node = opts.node ?? uid('node');
  const key = opts.key ?? node_key(server, { ...opts, node });
  let validation_key;
  let url = `ws://127.0.0.1:${server.port}/v1/connect`;
  if (opts.validation !== false) {
    const pc = await preconnect(server, key);
    assert.equal(pc.status, 200, `preconnect for ${node}: ${pc.status} ${pc.text}`);
    validation_key = pc.json.validation_key;
    url = pc.json.url;
  }
  const qs = `auth_key=${encodeURIComponent(key)}${validation_key ? `&validation_key=${encodeURIComponent(validation_key)}` : ''}`;
  const r = await open_ws(`${url}?${qs}`, { headers: opts.headers });
  assert.equal(r.status, 101, `connect for ${node}: ${r.status} ${r.text}`);
  const c = r.client;
  c.name = node;
  c.node = node;
  c.client_id = opts.client;
  c.key = key;
  server.clients.add(c);
  c.closed.then(() => server.clients.delete(c));
  const welcome = await c.next(() => true, 5000);
  assert.equal(welcome.json?.type, -10, `first frame for ${node} is not the welcome: ${welcome.text}`);
  c.welcome = welcome.json;
  return c;
}

// A -6 error frame of section 8: exactly {type, id?, payload: {code, message}}.
function assert_error_frame(frame, code, id) {
  const where = frame.text;
  assert.equal(frame.json?.type, -6, where);
  assert.deepEqual(Object.keys(frame.json).sort(), id === undefined ? ['payload', 'type'] : ['id', 'payload', 'type'], where);
  if (id !== undefined) assert.equal(frame.json.id, id, where);
  assert.deepEqual(Object.keys(frame.json.payload).sort(), ['code', 'message'], where);
  assert.equal(frame.json.payload.code, code, where);
  assert.equal(typeof frame.json.payload.message, 'string', where);
  assert.ok(frame.json.payload.message.length > 0, where);
}

// Two long-lived clients per server, plus a fresh one each call: bad input from
// anyone must never harm their traffic (section 8).
const flow_pairs = new WeakMap();
function assert_server_alive(server) {
  const { exitCode: code, signalCode: signal } = server.child;
  assert.ok(code === null && signal === null, `the server died (exit ${code}, signal ${signal}); stderr: ${server.stderr().slice(-1000)}`);
}

async function assert_traffic_flows(server) {
  assert_server_alive(server);
  let pair = flow_pairs.get(server);
  if (!pair) {
    pair = { a: await connect(server, { node: uid('flow-a') }), b: await connect(server, { node: uid('flow-b') }), n: 0 };
    flow_pairs.set(server, pair);
  }
  assert.ok(pair.a.open && pair.b.open, `a bystander connection was closed: ${JSON.stringify([pair.a.close_info, pair.b.close_info])}`);
  pair.n += 1;
  const n = pair.n;
  await pair.a.send({ dest_id: pair.b.node, payload: { flow: n } });
  await pair.b.send({ dest_id: pair.a.node, payload: { flow: n } });
  await pair.b.next((f) => f.json?.payload?.flow === n, 3000);
  await pair.a.next((f) => f.json?.payload?.flow === n, 3000);
  const fresh = await connect(server, { node: uid('flow-c') });
  await fresh.send({ dest_id: pair.b.node, payload: { flow_fresh: n } });
  await pair.b.next((f) => f.json?.payload?.flow_fresh === n, 3000);
  await fresh.close();
}

// A connected raw socket for node `node` (preconnect included).
async function raw_socket(server, { node = uid('raw'), client, role } = {}) {
  const key = node_key(server, { node, client, role });
  const pc = await preconnect(server, key);
  assert.equal(pc.status, 200, pc.text);
  const r = await raw_upgrade(server, `/v1/connect?auth_key=${encodeURIComponent(key)}&validation_key=${encodeURIComponent(pc.json.validation_key)}`);
  assert.equal(r.status, 101, `raw upgrade: ${r.status} ${r.body}`);
  r.raw.node = node;
  server.clients.add({ terminate: () => r.raw.destroy() });
  return r.raw;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

module.exports = {
  allspark_bin, uid, make_tmp_dir, child_env, run_cli, with_test_threads, start_server, time_shift_env, rss_bytes, sleep,
  mint_token, node_key, b64url,
  http_request, assert_http_error, preconnect,
  Client, open_ws, connect_url, connect, assert_error_frame, assert_server_alive, assert_traffic_flows,
  build_frame, raw_upgrade, raw_socket, send_junk,
  // the names the brief uses
  startServer: start_server, mintToken: mint_token, assertTrafficFlows: assert_traffic_flows, rawSocket: raw_socket,
};
