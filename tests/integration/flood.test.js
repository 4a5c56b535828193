'use strict';
// Issue 4, "Bad input" (PROTOCOL.md section 8): a flood of malformed frames
// from many connections at once never harms anyone else's traffic. While 40
// raw sockets at a time send bad opcodes, reserved bits, unmasked frames,
// lying 64-bit lengths, invalid UTF-8, 100,000-deep JSON, truncated frames and
// garbage instead of HTTP, two clients talk (every message arrives, in order)
// and a third fills the inbox of an offline node (nothing answered -4 is lost).
// Memory stays bounded; each bad connection is closed with its close code.
const { test } = require('node:test');
const assert = require('node:assert/strict');
const net = require('node:net');
const h = require('./lib/harness');

const LIMIT = 1048576;  // the default --max-message-bytes
const BURSTS = 5;       // at least, and for at least FLOOD_MS
const FLOOD_MS = 2000;
const PER_BURST = 40;
const WAIT = 10000;     // generous: answers under load, never a timing claim

const metric = (text, name) => {
  const m = new RegExp(`^${name.replace(/[{}"]/g, (c) => `\\${c}`)} (\\d+)$`, 'm').exec(text);
  return m ? Number(m[1]) : undefined;
};

const close_payload = (code) => {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(code, 0);
  return b;
};

// One malformed connection each. `code`: the close code the server must send;
// null: the client disconnects by itself (nothing to check but the others).
// `send(raw)` may return a promise; `deep` counts the bad_json errors it causes.
const DEEP = `{"payload":${'['.repeat(100000)}${']'.repeat(100000)}}`;
const KINDS = [
  { name: 'opcode 3 (reserved data opcode)', code: 1002, send: (r) => r.send_frame({ opcode: 3, payload: '{}' }) },
  { name: 'opcode 0xb (reserved control opcode)', code: 1002, send: (r) => r.send_frame({ opcode: 0xb, payload: '' }) },
  { name: 'RSV1 set', code: 1002, send: (r) => r.send_frame({ opcode: 1, rsv: 4, payload: '{}' }) },
  { name: 'RSV3 set on a ping', code: 1002, send: (r) => r.send_frame({ opcode: 9, rsv: 1, payload: 'p' }) },
  { name: 'unmasked text frame', code: 1002, send: (r) => r.send_frame({ opcode: 1, mask: false, payload: '{"a":1}' }) },
  { name: 'stray continuation', code: 1002, send: (r) => r.send_frame({ opcode: 0, payload: '{}' }) },
  { name: 'control frame of 126 bytes', code: 1002, send: (r) => r.send_frame({ opcode: 9, payload: Buffer.alloc(126, 0x61) }) },
  { name: '64-bit length with its top bit set', code: 1002,
    send: (r) => r.send_frame({ opcode: 1, payload: '{}', length: 2n ** 63n + 5n }) },
  { name: '64-bit length of 1 TB', code: 1009, send: (r) => r.send_frame({ opcode: 1, payload: '{"a":', length: 2 ** 40 }) },
  { name: 'length of the limit + 1, never sent', code: 1009,
    send: (r) => r.send_frame({ opcode: 1, payload: '{"a":"', length: LIMIT + 1 }) },
  { name: 'fragments adding up to more than the limit', code: 1009, send: (r) => {
    const part = Buffer.alloc(300 * 1024, 0x78);
    r.send_frame({ opcode: 1, fin: false, payload: Buffer.concat([Buffer.from('{"payload":"'), part]) });
    for (let i = 0; i < 3; i++) r.send_frame({ opcode: 0, fin: false, payload: part });
    r.send_frame({ opcode: 0, fin: true, payload: '"}' });
  } },
  { name: 'invalid UTF-8 (0xff)', code: 1007, send: (r) => r.send_frame({ opcode: 1, payload: Buffer.from('{"a":"\xff"}', 'latin1') }) },
  { name: 'invalid UTF-8 (surrogate) across fragments', code: 1007, send: (r) => {
    r.send_frame({ opcode: 1, fin: false, payload: Buffer.from('{"a":"\xed', 'latin1') });
    r.send_frame({ opcode: 0, fin: true, payload: Buffer.from('\xa0\x80"}', 'latin1') });
  } },
  { name: 'invalid UTF-8 in a close reason', code: 1007,
    send: (r) => r.send_frame({ opcode: 8, payload: Buffer.concat([close_payload(1000), Buffer.from([0xc0, 0xaf])]) }) },
  { name: '100,000-deep JSON, 3 times: bad_json, the connection stays', code: 1000, deep: 3, send: async (r) => {
    for (let i = 0; i < 3; i++) r.send_text(DEEP);
    for (let i = 0; i < 3; i++) h.assert_error_frame(await r.next((f) => f.opcode !== 10 && f.opcode !== 9, WAIT), 'bad_json');
    r.send_frame({ opcode: 8, payload: close_payload(1000) });  // then a polite close, echoed
  } },
  { name: 'truncated header, then a disconnect', code: null, send: (r) => { r.write(Buffer.from([0x81, 0xfe, 0x01])); r.destroy(); } },
  { name: 'truncated payload, then a disconnect', code: null, send: (r) => {
    r.write(h.build_frame({ opcode: 1, payload: '{"dest_id":"x","payload":"', length: 500000 }));
    r.destroy();
  } },
  { name: 'half a fragmented message, then a disconnect', code: null, send: (r) => {
    r.send_frame({ opcode: 1, fin: false, payload: Buffer.alloc(200 * 1024, 0x20) });
    r.destroy();
  } },
];
const GARBAGE = ['GARBAGE\r\n\r\n', '\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03 tls\r\n\r\n', '\x00\xff\xfe\xfd\r\n\r\n',
                 'GET /v1/connect HTTP/9.9\r\n\r\n'];
// Garbage instead of HTTP: answered 400 (section 8), then the server closes.
function garbage(server, text) {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port: server.port });
    let got = '';
    const t = setTimeout(() => { socket.destroy(); reject(new Error(`still open after ${WAIT} ms; got ${JSON.stringify(got)}`)); }, WAIT);
    socket.on('error', () => {});
    socket.on('data', (d) => { got += d.toString('latin1'); });
    socket.on('close', () => { clearTimeout(t); resolve(got); });
    socket.on('connect', () => socket.write(Buffer.from(text, 'latin1')));
  });
}

// Runs one malformed connection of `kind` (an index into KINDS, or beyond it:
// garbage); resolves to null when all went as section 8 says, else a problem.
async function malformed(server, kind, counts) {
  const n = kind - KINDS.length;
  if (n >= 0) {
    const text = GARBAGE[n % GARBAGE.length];
    counts.garbage += 1;
    const got = await garbage(server, text).catch((e) => e.message);
    return /^HTTP\/1\.1 400 /.test(got) ? null : `garbage ${JSON.stringify(text)}: ${JSON.stringify(got.slice(0, 200))}`;
  }
  const k = KINDS[kind];
  let raw;
  try {
    raw = await h.raw_socket(server, { node: h.uid('bad') });
    await k.send(raw);
    counts.deep += k.deep ?? 0;
    counts.by_code[k.code] = (counts.by_code[k.code] ?? 0) + 1;
    if (k.code === null) return null;
    await raw.expect_close(k.code, WAIT);
    return raw.protocol_error ? `${k.name}: ${raw.protocol_error}` : null;
  } catch (e) {
    raw?.destroy();
    return `${k.name}: ${e.message}`;
  }
}

// `from` sends numbered messages to `to` every few ms until stopped; `to`
// records what arrives. Later: every number, once, in order.
function talk(from, to, tag) {
  const s = { sent: 0, got: [], latencies: [], stop: false, error: null };
  to.ws.on('message', (data) => {
    const f = JSON.parse(data.toString());
    if (f.payload?.tag !== tag) return;
    s.got.push(f.payload.i);
    s.latencies.push(Date.now() - f.payload.t);
  });
  s.done = (async () => {
    while (!s.stop) {
      await from.send({ dest_id: to.node, payload: { tag, i: s.sent, t: Date.now() } });
      s.sent += 1;
      await h.sleep(4);
    }
  })().catch((e) => { s.error = e; });
  return s;
}

async function until(pred, ms, what) {
  const deadline = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${ms} ms`);
    await h.sleep(20);
  }
}

test(`${PER_BURST} malformed connections at a time, in bursts for ${FLOOD_MS / 1000} s, while two clients talk and a third fills an offline inbox`,
     { timeout: 60000 }, async (t) => {
  const server = await h.start_server();
  t.after(() => server.stop());
  const a = await h.connect(server, { node: h.uid('talk-a') });
  const b = await h.connect(server, { node: h.uid('talk-b') });
  const c = await h.connect(server, { node: h.uid('offline-sender') });
  const d_node = h.uid('offline');

  const rss_start = h.rss_bytes(server.pid);
  let rss_max = rss_start;
  const sampler = setInterval(() => {
    try { rss_max = Math.max(rss_max, h.rss_bytes(server.pid)); } catch { /* exited: asserted below */ }
  }, 20);
  t.after(() => clearInterval(sampler));

  const ab = talk(a, b, 'ab');
  const ba = talk(b, a, 'ba');
  // The third client: messages to an offline node, each answered -4 once stored.
  const offline = { sent: 0, fours: [], stop: false, error: null };
  c.ws.on('message', (data) => {
    const f = JSON.parse(data.toString());
    if (f.type === -4) offline.fours.push(f);
  });
  offline.done = (async () => {
    while (!offline.stop) {
      await c.send({ dest_id: d_node, id: `o${offline.sent}`, payload: { i: offline.sent } });
      offline.sent += 1;
      await h.sleep(4);
    }
  })().catch((e) => { offline.error = e; });

  await h.sleep(200);
  const counts = { deep: 0, garbage: 0, by_code: {} };
  const problems = [];
  const all_kinds = KINDS.length + GARBAGE.length;
  const started = Date.now();
  let bursts = 0;
  for (let burst = 0; burst < BURSTS || Date.now() - started < FLOOD_MS; burst++) {
    bursts += 1;
    const runs = [];
    for (let i = 0; i < PER_BURST; i++) runs.push(malformed(server, (burst * PER_BURST + i) % all_kinds, counts));
    problems.push(...(await Promise.all(runs)).filter((p) => p !== null));
    h.assert_server_alive(server);
  }
  const flood_ms = Date.now() - started;
  await h.sleep(200);
  ab.stop = true;
  ba.stop = true;
  offline.stop = true;
  await Promise.all([ab.done, ba.done, offline.done]);
  clearInterval(sampler);
  h.assert_server_alive(server);

  // The talkers: every message, exactly once, in order, within a generous wait.
  for (const [name, s] of [['a to b', ab], ['b to a', ba]]) {
    assert.equal(s.error, null, `${name}: sending failed: ${s.error?.message}`);
    await until(() => s.got.length >= s.sent, WAIT, `${name}: ${s.got.length} of ${s.sent} arrived`).catch(() => {});
    const expected = Array.from({ length: s.sent }, (_, i) => i);
    assert.deepEqual(s.got, expected, `${name}: gaps or reordering (${s.got.length} of ${s.sent} arrived)`);
    assert.ok(Math.max(...s.latencies) < WAIT, `${name}: a message took ${Math.max(...s.latencies)} ms`);
  }
  assert.ok(a.open && b.open && c.open, `a talker was closed: ${JSON.stringify([a.close_info, b.close_info, c.close_info])}`);

  // The offline node: one -4 per message, then its inbox holds every one of them.
  assert.equal(offline.error, null, `the offline sender failed: ${offline.error?.message}`);
  await until(() => offline.fours.length >= offline.sent, WAIT, `-4 answers: ${offline.fours.length} of ${offline.sent}`)
    .catch(() => {});
  assert.equal(offline.fours.length, offline.sent, 'one -4 per message to the offline node');
  assert.deepEqual(offline.fours.map((f) => f.id).sort(), Array.from({ length: offline.sent }, (_, i) => `o${i}`).sort());
  for (const f of offline.fours) assert.deepEqual(f, { type: -4, id: f.id, src_id: d_node });
  const d = await h.connect(server, { node: d_node });
  const inbox = await d.take(offline.sent, () => true, 20000);
  assert.deepEqual(inbox.map((f) => f.json.id), Array.from({ length: offline.sent }, (_, i) => `o${i}`), 'the inbox, oldest first');
  assert.deepEqual(inbox.map((f) => f.json.seq), Array.from({ length: offline.sent }, (_, i) => i + 1));
  for (const f of inbox) {
    assert.equal(f.json.src_id, c.node);
    assert.equal(f.json.dest_id, d_node);
    assert.equal(f.json.payload.i, Number(f.json.id.slice(1)));
  }
  await d.expect_nothing(200);

  // Every malformed connection was closed as section 8 says.
  const lat = [...ab.latencies, ...ba.latencies].sort((x, y) => x - y);
  t.diagnostic(`flood ${flood_ms} ms, ${bursts} bursts; connections by close code ${JSON.stringify(counts.by_code)}, garbage ${counts.garbage}; ` +
               `talk ${ab.sent}+${ba.sent} messages, latency median ${lat[lat.length >> 1]} ms, max ${lat[lat.length - 1]} ms; ` +
               `offline ${offline.sent}; RSS start ${rss_start >> 20} MB, max ${rss_max >> 20} MB`);
  assert.deepEqual(problems, [], `${problems.length} malformed connections were not answered as section 8 says`);

  // Memory stayed bounded during the flood.
  assert.ok(rss_max < 300 * 1024 * 1024, `server RSS reached ${rss_max >> 20} MB (start ${rss_start >> 20} MB)`);

  // The server's own account: no bad connection left behind, every deep JSON
  // counted as bad_json, every message to the offline node stored.
  let text = '';
  const deadline = Date.now() + WAIT;
  for (;;) {
    text = (await h.http_request(server, { path: '/metrics' })).text;
    if (metric(text, 'allspark_connections') === 4 || Date.now() > deadline) break;
    await h.sleep(50);
  }
  assert.equal(metric(text, 'allspark_connections'), 4,
               `a, b, c and the offline node: every malformed connection is gone (${WAIT} ms after the flood)`);
  assert.equal(metric(text, 'allspark_errors_total{code="bad_json"}'), counts.deep);
  assert.equal(metric(text, 'allspark_inbox_stored_total'), offline.sent);
  await h.assert_traffic_flows(server);
});

// The same hazard without a flood, made certain: while the server is busy
// (here: stopped), clients send a frame and disconnect, so the frame and the
// end of the stream are waiting together when it looks again. It must see
// both: the connections are gone, and their nodes are offline again (a
// message to one is stored and answered -4, not written to a dead socket).
test('a frame and the disconnect that arrive together: the connection is gone and its node offline', { timeout: 30000 }, async (t) => {
  const server = await h.start_server();
  t.after(() => { try { process.kill(server.pid, 'SIGCONT'); } catch { /* gone */ } return server.stop(); });
  const sender = await h.connect(server, { node: h.uid('sender') });
  const raws = [];
  for (let i = 0; i < 10; i++) raws.push(await h.raw_socket(server, { node: h.uid('leaver') }));
  process.kill(server.pid, 'SIGSTOP');
  for (const [i, r] of raws.entries()) {
    if (i % 2 === 0) r.send_frame({ opcode: 1, payload: '{"type":1}' });  // a ping message, then the end
    else r.send_frame({ opcode: 1, fin: false, payload: '{"payload":"' });  // half a message, then the end
    r.destroy();
  }
  await h.sleep(300);
  process.kill(server.pid, 'SIGCONT');
  let live;
  const deadline = Date.now() + 5000;
  do {
    await h.sleep(50);
    live = metric((await h.http_request(server, { path: '/metrics' })).text, 'allspark_connections');
  } while (live !== 1 && Date.now() < deadline);
  assert.ok(sender.open, `the sender was closed: ${JSON.stringify(sender.close_info)}`);
  assert.equal(live, 1, 'only the sender is still connected 5 s after 10 clients left');
  for (const [i, r] of raws.entries()) {
    await sender.send({ dest_id: r.node, id: `after-${i}` });
    const f = await sender.next(() => true, 3000).catch((e) => ({ json: e.message }));
    assert.deepEqual(f.json, { type: -4, id: `after-${i}`, src_id: r.node }, `a message to ${r.node}, which left`);
  }
  h.assert_server_alive(server);
});
