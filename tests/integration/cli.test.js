'use strict';
// PROTOCOL.md section 10: the command line, and the secret kept beside the store.
const { test } = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');
const h = require('./lib/harness');

const T = { timeout: 30000 };
const SERVE_FLAGS = ['--host', '--port', '--store', '--secret', '--secret-file', '--server-id', '--advertise-url',
                     '--proxy-url', '--threads', '--no-validation-key', '--max-message-bytes', '--offline-webhook',
                     '--allowed-origins', '--ping-interval', '--retention', '--inbox-max', '--log-max', '--log-level'];

function with_tmp(t) {
  const dir = h.make_tmp_dir();
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function assert_one_line_naming(r, name, what) {
  const where = `${what}: status ${r.status}, stdout ${JSON.stringify(r.stdout)}, stderr ${JSON.stringify(r.stderr)}`;
  assert.equal(r.status, 2, where);
  assert.match(r.stderr, /^[^\n]+\n?$/, `exactly one line on stderr; ${where}`);
  assert.ok(r.stderr.includes(name), `the line names ${name}; ${where}`);
}

function verify_hs256(key, secret) {
  const [head, body, sig] = key.split('.');
  return crypto.createHmac('sha256', secret).update(`${head}.${body}`).digest('base64url') === sig;
}

test('--version and --help', T, () => {
  const v = h.run_cli(['--version']);
  assert.equal(v.status, 0, v.stderr);
  assert.match(v.stdout, /^allspark \d+\.\d+\.\d+/);
  const help = h.run_cli(['--help']);
  assert.equal(help.status, 0, help.stderr);
  for (const word of ['serve', 'token']) assert.ok(help.stdout.includes(word), `--help mentions ${word}: ${help.stdout}`);
});

test('serve --help lists every flag of section 10', T, () => {
  const r = h.run_cli(['serve', '--help']);
  assert.equal(r.status, 0, r.stderr);
  for (const flag of SERVE_FLAGS) {
    assert.match(r.stdout, new RegExp(`${flag}(?![a-z-])`), `serve --help does not list ${flag}`);
  }
});

test('token --help lists its flags', T, () => {
  const r = h.run_cli(['token', '--help']);
  assert.equal(r.status, 0, r.stderr);
  for (const flag of ['--node-id', '--client-id', '--role', '--ttl', '--secret', '--secret-file', '--store']) {
    assert.match(r.stdout, new RegExp(`${flag}(?![a-z-])`), `token --help does not list ${flag}`);
  }
});

test('an unknown flag exits 2 with one line naming it', T, (t) => {
  const dir = with_tmp(t);
  const store = `sqlite:${path.join(dir, 'allspark.db')}`;
  assert_one_line_naming(h.run_cli(['serve', '--store', store, '--secret', 's', '--port', '0', '--bogus-flag']),
                         '--bogus-flag', 'serve --bogus-flag');
  assert_one_line_naming(h.run_cli(['serve', '--store', store, '--secret', 's', '--port', '0', '--host_address', '127.0.0.1']),
                         '--host_address', 'the original snake_case flag');
  assert_one_line_naming(h.run_cli(['token', '--node-id', 'n', '--secret', 's', '--bogus-flag']), '--bogus-flag', 'token --bogus-flag');
  assert_one_line_naming(h.run_cli(['--bogus-flag']), '--bogus-flag', 'allspark --bogus-flag');
});

test('values the server cannot use exit 2 with one line naming the flag', T, (t) => {
  const dir = with_tmp(t);
  const cases = [
    ['--port', 'abc'], ['--port', '70000'], ['--port', '-1'], ['--threads', '0'], ['--threads', 'many'],
    ['--retention', '5x'], ['--retention', 'd'], ['--log-level', 'loud'], ['--store', 'mysql://x'], ['--store', 'nowhere'],
    ['--max-message-bytes', 'abc'], ['--max-message-bytes', '0'], ['--ping-interval', 'abc'], ['--inbox-max', '-5'],
    ['--log-max', 'x'], ['--host', '999.1.1.1'],
  ];
  for (const [flag, value] of cases) {
    const args = ['serve', '--secret', 's'];
    if (flag !== '--store') args.push('--store', `sqlite:${path.join(dir, 'allspark.db')}`);
    if (flag !== '--port') args.push('--port', '0');
    args.push(flag, value);
    assert_one_line_naming(h.run_cli(args, { timeout: 5000, cwd: dir }), flag, `${flag} ${value}`);
  }
  // A flag missing its value.
  assert_one_line_naming(h.run_cli(['serve', '--secret', 's', '--store', `sqlite:${path.join(dir, 'x.db')}`, '--port'],
                                   { timeout: 5000, cwd: dir }), '--port', '--port with no value');
  assert_one_line_naming(h.run_cli(['token', '--secret', 's', '--node-id', 'a b']), '--node-id', 'token --node-id "a b"');
  assert_one_line_naming(h.run_cli(['token', '--secret', 's', '--node-id', 'n', '--ttl', 'soon']), '--ttl', 'token --ttl soon');
  assert_one_line_naming(h.run_cli(['token', '--secret', 's', '--node-id', 'n', '--role', 'king']), '--role', 'token --role king');
});

test('with no secret, serve generates one beside the store and allspark token finds it', T, async (t) => {
  const dir = with_tmp(t);
  const store = `sqlite:${path.join(dir, 'allspark.db')}`;
  const s = await h.start_server({ dir, secret: null });
  t.after(() => s.stop());
  const secret_path = path.join(dir, 'secret');
  assert.ok(fs.existsSync(secret_path), `no ${secret_path}; files: ${fs.readdirSync(dir)}`);
  assert.equal(fs.statSync(secret_path).mode & 0o077, 0, 'the secret file is readable by its owner only');
  const secret = fs.readFileSync(secret_path, 'utf8').trim();
  assert.ok(secret.length >= 16, 'a generated secret of some length');
  assert.match(`${s.stdout()}${s.stderr()}`, /allspark token/, 'serve prints how to mint a token');
  const r = h.run_cli(['token', '--node-id', 'dev-node', '--store', store]);
  assert.equal(r.status, 0, r.stderr);
  const key = r.stdout.trim();
  assert.ok(verify_hs256(key, secret), 'the key is signed with the kept secret');
  const c = await h.connect(s, { key, node: 'dev-node' });
  assert.equal(c.welcome.payload.node_id, 'dev-node');
  await c.close();
  // A restart on the same store keeps the same secret: the key still works.
  await s.stop();
  const again = await h.start_server({ dir, secret: null });
  t.after(() => again.stop());
  assert.equal(fs.readFileSync(secret_path, 'utf8').trim(), secret);
  assert.equal((await h.preconnect(again, key)).status, 200);
});

test('serve takes the secret from ALLSPARK_SECRET and from --secret-file', T, async (t) => {
  const dir = with_tmp(t);
  const env_secret = crypto.randomBytes(16).toString('hex');
  const a = await h.start_server({ secret: null, env: { ALLSPARK_SECRET: env_secret } });
  t.after(() => a.stop());
  assert.equal((await h.preconnect(a, h.mint_token({ sub: 'n1' }, env_secret))).status, 200);
  assert.equal((await h.preconnect(a, h.mint_token({ sub: 'n1' }, 'other'))).status, 401);
  const file_secret = crypto.randomBytes(16).toString('hex');
  fs.writeFileSync(path.join(dir, 'secret.txt'), `${file_secret}\n`);
  const b = await h.start_server({ secret: null, args: ['--secret-file', path.join(dir, 'secret.txt')] });
  t.after(() => b.stop());
  assert.equal((await h.preconnect(b, h.mint_token({ sub: 'n1' }, file_secret))).status, 200);
  // --secret wins over ALLSPARK_SECRET.
  const c = await h.start_server({ secret: 'flag-secret', env: { ALLSPARK_SECRET: env_secret } });
  t.after(() => c.stop());
  assert.equal((await h.preconnect(c, h.mint_token({ sub: 'n1' }, 'flag-secret'))).status, 200);
  assert.equal((await h.preconnect(c, h.mint_token({ sub: 'n1' }, env_secret))).status, 401);
  // An unreadable --secret-file stops it, naming the flag.
  assert_one_line_naming(h.run_cli(['serve', '--store', `sqlite:${path.join(dir, 'x.db')}`, '--port', '0',
                                    '--secret-file', path.join(dir, 'missing')], { timeout: 5000 }), '--secret-file', 'missing secret file');
});

test('a store held by another running server stops the second one, naming --store', T, async (t) => {
  const s = await h.start_server();
  t.after(() => s.stop());
  const r = h.run_cli(['serve', '--host', '127.0.0.1', '--port', '0', '--store', s.store, '--secret', s.secret], { timeout: 5000 });
  assert_one_line_naming(r, '--store', 'second server on the same store');
  assert.equal((await h.preconnect(s, h.node_key(s, { node: 'n1' }))).status, 200, 'the first one still serves');
});

test('--port 0 picks a free port: two servers side by side', T, async (t) => {
  const a = await h.start_server();
  t.after(() => a.stop());
  const b = await h.start_server({ args: ['--threads', '1', '--log-level', 'warn'] });
  t.after(() => b.stop());
  assert.notEqual(a.port, b.port);
  assert.ok(a.port > 0 && b.port > 0);
  for (const s of [a, b]) assert.equal((await h.preconnect(s, h.node_key(s, { node: 'n1' }))).status, 200);
});

test('SIGTERM: clients are told 1001 and the server exits 0 within 10 s', T, async () => {
  const s = await h.start_server();
  const c = await h.connect(s, { node: h.uid('bye') });
  const started = Date.now();
  s.child.kill('SIGTERM');
  const timeout = new Promise((r) => setTimeout(r, 12000).unref()).then(() => 'no answer in 12 s');
  const closed = await Promise.race([c.closed, timeout]);
  const exit = await Promise.race([s.exited, timeout]);
  await s.stop();
  assert.deepEqual(exit, { code: 0, signal: null });
  assert.equal(closed.code, 1001, `close code ${closed.code} ${closed.reason}`);
  assert.ok(Date.now() - started < 10000);
});
