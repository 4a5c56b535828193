// Nothing accepted is lost (PROTOCOL.md section 6, "Durability"): a server
// SIGKILLed right after -4 (or, with `ack`, -7) answers, several times in a
// row, still has every message it answered for, exactly as sent, after a
// restart.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const h = require('./lib/harness');

// Three rounds: a server, a sender that keeps sending to `bob` until 400 more
// were answered with `answer_type`, then SIGKILL at once (the server is
// mid-way through later writes when it dies). With `ack`, bob is connected
// during each round. Then a fresh server: bob's inbox must hold
// every answered message, once, in seq order, byte for byte.
async function kill_loop(t, { ack }) {
  const dir = h.make_tmp_dir();
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const secret = 'crash-secret';
  const bob = h.uid('bob');
  const answer_type = ack ? -7 : -4;
  const accepted = new Map();  // id -> the payload sent
  for (let round = 0; round < 3; round++) {
    const server = await h.start_server({ dir, secret });
    const live_bob = ack ? await h.connect(server, { node: bob }) : null;  // ack stores live copies too
    const a = await h.connect(server, { node: h.uid('a') });
    const sent = new Map();
    let answered = 0;
    a.ws.on('message', (m) => {
      const f = JSON.parse(m.toString());
      if (f.type !== answer_type || !f.id) return;
      answered++;
      accepted.set(f.id, sent.get(f.id));
    });
    for (let i = 0; answered < 400 && i < 5000; i++) {
      const id = `r${round}-${i}`;
      const payload = { round, i, text: `h\u00e9llo ${i}`, n: [1, 2.5, 4.5e-7, { deep: [true, null] }] };
      sent.set(id, payload);
      a.ws.send(JSON.stringify({ dest_id: bob, id, ...(ack ? { ack: true } : {}), payload }));
      if (i % 50 === 49) await h.sleep(1);
    }
    while (answered < 400) await h.sleep(1);
    server.child.kill('SIGKILL');
    await server.exited;
    live_bob?.terminate();
  }
  assert.ok(accepted.size >= 1200, `only ${accepted.size} answered`);

  const server = await h.start_server({ dir, secret });
  t.after(() => server.stop());
  const b = await h.connect(server, { node: bob });
  const seen = new Map();
  let last_seq = 0;
  for (;;) {
    const f = await b.next(() => true, 3000).catch(() => null);
    if (!f) break;
    assert.ok(f.json.seq > last_seq, `seq ${f.json.seq} after ${last_seq}`);
    last_seq = f.json.seq;
    assert.ok(!seen.has(f.json.id), `${f.json.id} twice`);
    seen.set(f.json.id, f.json.payload);
  }
  for (const [id, payload] of accepted) {
    assert.ok(seen.has(id), `${id} was answered ${answer_type} but is gone after the kills`);
    assert.deepEqual(seen.get(id), payload, id);
  }
}

test('1,200 messages answered -4 across 3 SIGKILLs are all there afterwards, exactly as sent', { timeout: 120000 },
     (t) => kill_loop(t, { ack: false }));

test('1,200 ack messages answered -7 across 3 SIGKILLs, to a live node, are all in its inbox afterwards',
     { timeout: 120000 }, (t) => kill_loop(t, { ack: true }));
