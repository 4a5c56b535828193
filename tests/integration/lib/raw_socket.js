'use strict';
// Raw WebSocket over node:net, for frames no well-behaved client sends
// (RFC 6455 section 5): unmasked frames, bad opcodes, lying lengths, invalid
// UTF-8, a close mid-frame. The upgrade is done by hand too.
const crypto = require('node:crypto');
const net = require('node:net');
const assert = require('node:assert/strict');

function parse_frame_text(text) {
  try { return JSON.parse(text); } catch { return undefined; }
}

// Builds one frame. length may lie (a number or BigInt); mask=false sends it unmasked.
function build_frame({ opcode = 1, payload = Buffer.alloc(0), fin = true, rsv = 0, mask = true, length } = {}) {
  const body = Buffer.isBuffer(payload) ? payload : Buffer.from(payload);
  const len = length ?? body.length;
  const b0 = (fin ? 0x80 : 0) | (rsv << 4) | opcode;
  const m = mask ? 0x80 : 0;
  let head;
  if (typeof len === 'number' && len < 126) head = Buffer.from([b0, m | len]);
  else if (typeof len === 'number' && len < 65536) {
    head = Buffer.from([b0, m | 126, 0, 0]);
    head.writeUInt16BE(len, 2);
  } else {
    head = Buffer.alloc(10);
    head[0] = b0;
    head[1] = m | 127;
    head.writeBigUInt64BE(BigInt(len), 2);
  }
  if (!mask) return Buffer.concat([head, body]);
  const key = crypto.randomBytes(4);
  const masked = Buffer.alloc(body.length);
  for (let i = 0; i < body.length; i++) masked[i] = body[i] ^ key[i & 3];
  return Buffer.concat([head, key, masked]);
}

class RawSocket {
  constructor(socket, rest) {
    this.socket = socket;
    this.buf = rest;
    this.frames = [];
    this.pending = [];
    this.waiters = [];
    this.ended = false;
    this.bytes_received = 0;
    this.protocol_error = null;  // what was wrong in a frame from the server
    this.end = new Promise((resolve) => socket.on('close', () => {
      this.ended = true;
      for (const w of this.waiters.splice(0)) w.fail('connection ended');
      resolve();
    }));
    socket.on('error', () => {});
    socket.on('data', (d) => this.feed(d));
    if (rest.length) setImmediate(() => this.feed(Buffer.alloc(0)));
  }

  feed(data) {
    this.bytes_received += data.length;
    this.buf = this.buf.length ? Buffer.concat([this.buf, data]) : data;
    for (;;) {
      const b = this.buf;
      if (b.length < 2) return;
      const masked = (b[1] & 0x80) !== 0;
      let len = b[1] & 0x7f;
      let off = 2;
      if (len === 126) { if (b.length < 4) return; len = b.readUInt16BE(2); off = 4; }
      else if (len === 127) { if (b.length < 10) return; len = Number(b.readBigUInt64BE(2)); off = 10; }
      if (masked) { this.protocol_error ??= 'server sent a masked frame'; off += 4; }
      if (b.length < off + len) return;
      const payload = b.subarray(off, off + len);
      this.buf = b.subarray(off + len);
      const frame = { fin: (b[0] & 0x80) !== 0, rsv: (b[0] >> 4) & 7, opcode: b[0] & 0x0f, payload: Buffer.from(payload) };
      if (frame.opcode === 1) { frame.text = payload.toString('utf8'); frame.json = parse_frame_text(frame.text); }
      if (frame.opcode === 8) {
        frame.close_code = payload.length >= 2 ? payload.readUInt16BE(0) : null;
        frame.close_reason = payload.subarray(2).toString('utf8');
      }
      this.frames.push(frame);
      const i = this.waiters.findIndex((w) => w.pred(frame));
      if (i >= 0) this.waiters.splice(i, 1)[0].take(frame);
      else this.pending.push(frame);
    }
  }

  next(pred = () => true, timeout_ms = 3000) {
    const i = this.pending.findIndex(pred);
    if (i >= 0) return Promise.resolve(this.pending.splice(i, 1)[0]);
    return new Promise((resolve, reject) => {
      const waiter = {
        pred,
        take: (f) => { clearTimeout(timer); resolve(f); },
        fail: (why) => {
          clearTimeout(timer);
          const seen = this.pending.slice(-5).map((f) => `op${f.opcode}:${(f.text ?? f.payload.toString('hex')).slice(0, 200)}`).join(' | ');
          reject(new Error(`raw socket: ${why}; unmatched frames: ${seen || '(none)'}`));
        },
      };
      const timer = setTimeout(() => {
        this.waiters.splice(this.waiters.indexOf(waiter), 1);
        waiter.fail(`nothing matching in ${timeout_ms} ms`);
      }, timeout_ms);
      if (this.ended) waiter.fail('connection ended');
      else this.waiters.push(waiter);
    });
  }

  // The server's close frame, then the end of the TCP connection.
  async expect_close(code, timeout_ms = 3000) {
    const f = await this.next((x) => x.opcode === 8, timeout_ms);
    assert.equal(f.close_code, code, `close code ${f.close_code} (${f.close_reason}), expected ${code}`);
    this.write(build_frame({ opcode: 8, payload: f.payload.subarray(0, 2) }));
    await this.wait_end(timeout_ms);
    return f;
  }

  async wait_end(timeout_ms = 3000) {
    let t;
    await Promise.race([this.end, new Promise((_, rej) => { t = setTimeout(() => rej(new Error(`TCP connection still open after ${timeout_ms} ms`)), timeout_ms); })]);
    clearTimeout(t);
  }

  write(buf) { if (!this.socket.destroyed) this.socket.write(buf); }
  send_frame(opts) { this.write(build_frame(opts)); }
  send_text(text) { this.send_frame({ opcode: 1, payload: Buffer.from(text) }); }
  destroy() { this.socket.destroy(); }
}

// Upgrades by hand on a TCP socket. Resolves {status, headers, body} when
// refused, or {status: 101, raw} (raw.welcome set unless wait_welcome is false).
async function raw_upgrade(server, request_path, { headers = {}, wait_welcome = true } = {}) {
  const socket = net.connect({ host: '127.0.0.1', port: server.port });
  socket.setNoDelay(true);
  await new Promise((resolve, reject) => { socket.once('connect', resolve); socket.once('error', reject); });
  const key = crypto.randomBytes(16).toString('base64');
  const all = { Host: `127.0.0.1:${server.port}`, Upgrade: 'websocket', Connection: 'Upgrade',
                'Sec-WebSocket-Key': key, 'Sec-WebSocket-Version': '13', ...headers };  // `headers` may replace these
  const lines = [`GET ${request_path} HTTP/1.1`, ...Object.entries(all).map(([k, v]) => `${k}: ${v}`)];
  socket.write(`${lines.join('\r\n')}\r\n\r\n`);
  let buf = Buffer.alloc(0);
  const head = await new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('no upgrade answer in 5 s')), 5000);
    const on_data = (d) => {
      buf = Buffer.concat([buf, d]);
      const i = buf.indexOf('\r\n\r\n');
      if (i < 0) return;
      clearTimeout(t);
      socket.off('data', on_data);
      socket.pause();
      resolve(i);
    };
    socket.on('data', on_data);
    socket.once('close', () => { clearTimeout(t); reject(new Error('closed during upgrade')); });
  });
  const [status_line, ...header_lines] = buf.subarray(0, head).toString('latin1').split('\r\n');
  const status = Number(status_line.split(' ')[1]);
  const hdrs = Object.fromEntries(header_lines.map((l) => [l.slice(0, l.indexOf(':')).trim().toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]));
  const rest = buf.subarray(head + 4);
  if (status !== 101) {
    socket.destroy();
    return { status, headers: hdrs, body: rest.toString('utf8') };
  }
  const accept = crypto.createHash('sha1').update(`${key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64');
  assert.equal(hdrs['sec-websocket-accept'], accept, 'Sec-WebSocket-Accept');
  const raw = new RawSocket(socket, rest);
  socket.resume();
  if (wait_welcome) {
    const w = await raw.next(() => true, 5000);
    assert.equal(w.json?.type, -10, `first frame is not the welcome: ${w.text}`);
    raw.welcome = w.json;
  }
  return { status, raw };
}

// Opens a TCP connection, writes `bytes` (no upgrade), and closes it abruptly.
async function send_junk(server, bytes) {
  const socket = net.connect({ host: '127.0.0.1', port: server.port });
  await new Promise((resolve, reject) => { socket.once('connect', resolve); socket.once('error', reject); });
  socket.on('error', () => {});
  socket.write(Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes, 'latin1'));
  socket.destroy();
}

module.exports = { build_frame, RawSocket, raw_upgrade, send_junk };
