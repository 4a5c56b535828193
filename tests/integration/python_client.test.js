// A third standard client: Debian's python3-websockets (run with /usr/bin/python3,
// not the python3 first on PATH) connects, sends a fragmented message, pings and closes.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { spawnSync } = require('node:child_process');
const h = require('./lib/harness');

const python = '/usr/bin/python3';
const usable = fs.existsSync(python) && spawnSync(python, ['-c', 'import websockets']).status === 0;

test('python websockets: fragments, ping/pong and the close handshake', { skip: !usable && 'python3-websockets is not installed' }, async (t) => {
  const server = await h.start_server();
  t.after(() => server.stop());
  const a = h.uid('py-a');
  const b = h.uid('py-b');
  const run = spawnSync(python, [path.join(__dirname, 'lib', 'python_client.py'), `http://127.0.0.1:${server.port}`,
    h.node_key(server, { node: a, client: 'pyclient' }), h.node_key(server, { node: b }), b], { encoding: 'utf8', timeout: 20000 });
  assert.equal(run.status, 0, run.stderr);
  const steps = run.stdout.trim().split('\n').map((line) => JSON.parse(line));
  assert.deepEqual(steps.map((s) => s.step), ['welcome', 'message', 'pong', 'closed']);
  assert.equal(steps[0].a.type, -10);
  assert.equal(steps[0].a.payload.node_id, a);
  assert.equal(steps[0].a.payload.client_id, 'pyclient');
  assert.equal(steps[0].b.payload.node_id, b);
  const received = steps[1].received;
  assert.equal(received.dest_id, b);
  assert.equal(received.src_id, a);
  assert.equal(received.src_client_id, 'pyclient');
  assert.deepEqual(received.payload, { text: 'h\u00e9llo', from: 'python' });
  assert.equal(typeof received.timestamp, 'number');
  assert.equal(steps[3].code, 1000);
  await h.assert_traffic_flows(server);
});
