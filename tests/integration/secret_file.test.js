'use strict';
// Issue 4 point 4 and PROTOCOL.md sections 2 and 10: `--secret-file PATH`
// (a secret on the command line shows in `ps`) and ALLSPARK_SECRET, for
// `serve` and for `token` alike. Precedence: --secret, else --secret-file,
// else ALLSPARK_SECRET, else the one kept beside the store.
const { test } = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');
const h = require('./lib/harness');

const T = { timeout: 30000 };

function with_tmp(t) {
  const dir = h.make_tmp_dir();
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function write_secret(dir, name, text) {
  const p = path.join(dir, name);
  fs.writeFileSync(p, text, { mode: 0o600 });
  return p;
}

function assert_exit_2_naming(r, name, what) {
  const where = `${what}: status ${r.status}, stdout ${JSON.stringify(r.stdout)}, stderr ${JSON.stringify(r.stderr)}`;
  assert.equal(r.status, 2, where);
  assert.equal(r.stdout, '', where);
  assert.match(r.stderr, /^[^\n]+\n?$/, `exactly one line on stderr; ${where}`);
  assert.ok(r.stderr.includes(name), `the line names ${name}; ${where}`);
}

function verify_hs256(key, secret) {
  const [head, body, sig] = key.split('.');
  return crypto.createHmac('sha256', secret).update(`${head}.${body}`).digest('base64url') === sig;
}

// `allspark token` with these args and env: its key, checked to be one line.
function mint_with_cli(args, env = {}) {
  const r = h.run_cli(['token', ...args], { env });
  assert.equal(r.status, 0, `token ${args.join(' ')}: ${r.status} ${r.stderr}`);
  assert.match(r.stdout, /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\n?$/, `one JWT on stdout: ${JSON.stringify(r.stdout)}`);
  return r.stdout.trim();
}

// A key is accepted: preconnect 200, then the WebSocket welcome names the node.
async function assert_accepted(server, key, node) {
  const pc = await h.preconnect(server, key);
  assert.equal(pc.status, 200, pc.text);
  const c = await h.connect(server, { key, node });
  assert.equal(c.welcome.payload.node_id, node);
  await c.close();
}

// A key is refused: 401 unauthorized on preconnect and on the upgrade.
async function assert_refused(server, key, what) {
  h.assert_http_error(await h.preconnect(server, key), 401, 'unauthorized');
  const r = await h.open_ws(h.connect_url(server, { auth_key: key, validation_key: 'x' }));
  assert.equal(r.status, 401, `${what}: upgrade ${r.status} ${r.text}`);
}

test('serve --secret-file: keys minted with the file\'s secret connect; others get 401', T, async (t) => {
  const dir = with_tmp(t);
  const secret = crypto.randomBytes(20).toString('hex');
  const file = write_secret(dir, 'secret.txt', `${secret}\n`);
  const s = await h.start_server({ secret: null, args: ['--secret-file', file] });
  t.after(() => s.stop());
  const node = h.uid('filed');
  await assert_accepted(s, h.mint_token({ sub: node }, secret), node);
  await assert_refused(s, h.mint_token({ sub: node }, `${secret}\n`), 'the trailing newline is not part of the secret');
  await assert_refused(s, h.mint_token({ sub: node }, 'another-secret'), 'another secret');
  await assert_refused(s, h.mint_token({ sub: node }, secret.slice(0, -1)), 'the secret less its last character');
  // No secret is generated beside the store when one was given.
  assert.equal(fs.existsSync(path.join(s.dir, 'secret')), false, `files: ${fs.readdirSync(s.dir)}`);
});

test('a secret file without a trailing newline works the same', T, async (t) => {
  const dir = with_tmp(t);
  const secret = crypto.randomBytes(20).toString('hex');
  const file = write_secret(dir, 'secret', secret);
  const s = await h.start_server({ secret: null, args: ['--secret-file', file] });
  t.after(() => s.stop());
  const node = h.uid('no-nl');
  await assert_accepted(s, h.mint_token({ sub: node }, secret), node);
  await assert_refused(s, h.mint_token({ sub: node }, 'x'), 'another secret');
});

test('serve: a missing, empty, blank or unreadable --secret-file exits 2 with one line naming it', T, async (t) => {
  const dir = with_tmp(t);
  const store = `sqlite:${path.join(dir, 'allspark.db')}`;
  const cases = [
    ['a missing file', path.join(dir, 'missing')],
    ['an empty file', write_secret(dir, 'empty', '')],
    ['a file holding only a newline', write_secret(dir, 'newline', '\n')],
    ['a folder', dir],
  ];
  for (const [what, file] of cases) {
    const r = h.run_cli(['serve', '--host', '127.0.0.1', '--port', '0', '--store', store, '--secret-file', file],
                        { timeout: 5000, cwd: dir });
    assert_exit_2_naming(r, '--secret-file', `serve with ${what}`);
  }
  // It generated no secret of its own and left nothing that blocks the store.
  const left = fs.readdirSync(dir);
  assert.ok(!left.includes('secret') && !left.includes('allspark.db'), `files: ${left}`);
  const s = await h.start_server({ dir, secret: null, args: ['--secret-file', write_secret(dir, 'good', 'good-secret\n')] });
  t.after(() => s.stop());
  await assert_accepted(s, h.mint_token({ sub: 'after' }, 'good-secret'), 'after');
});

test('token --secret-file mints a key the server with that file accepts; a bad file exits 2 naming it', T, async (t) => {
  const dir = with_tmp(t);
  const secret = crypto.randomBytes(20).toString('hex');
  const file = write_secret(dir, 'secret.txt', `${secret}\n`);
  const node = h.uid('cli');
  const key = mint_with_cli(['--node-id', node, '--secret-file', file]);
  assert.ok(verify_hs256(key, secret), 'signed with the file\'s secret, without its newline');
  assert.equal(JSON.parse(Buffer.from(key.split('.')[1], 'base64url')).sub, node);
  const s = await h.start_server({ secret: null, args: ['--secret-file', file] });
  t.after(() => s.stop());
  await assert_accepted(s, key, node);
  // A server with another secret refuses it.
  const other = await h.start_server();
  t.after(() => other.stop());
  await assert_refused(other, key, 'a server with another secret');
  for (const [what, bad] of [['a missing file', path.join(dir, 'missing')], ['an empty file', write_secret(dir, 'empty', '')],
                             ['a file holding only a newline', write_secret(dir, 'newline', '\n')]]) {
    assert_exit_2_naming(h.run_cli(['token', '--node-id', 'n1', '--secret-file', bad], { cwd: dir }), '--secret-file',
                         `token with ${what}`);
  }
});

test('ALLSPARK_SECRET works the same for serve and token', T, async (t) => {
  const secret = crypto.randomBytes(20).toString('hex');
  const s = await h.start_server({ secret: null, env: { ALLSPARK_SECRET: secret } });
  t.after(() => s.stop());
  const node = h.uid('env');
  const key = mint_with_cli(['--node-id', node], { ALLSPARK_SECRET: secret });
  assert.ok(verify_hs256(key, secret), 'signed with ALLSPARK_SECRET');
  await assert_accepted(s, key, node);
  await assert_accepted(s, h.mint_token({ sub: `${node}-2` }, secret), `${node}-2`);
  await assert_refused(s, h.mint_token({ sub: node }, 'another-secret'), 'another secret');
  assert.equal(fs.existsSync(path.join(s.dir, 'secret')), false, `files: ${fs.readdirSync(s.dir)}`);
});

test('--secret-file wins over ALLSPARK_SECRET, for serve and for token', T, async (t) => {
  const dir = with_tmp(t);
  const file_secret = crypto.randomBytes(20).toString('hex');
  const env_secret = crypto.randomBytes(20).toString('hex');
  const file = write_secret(dir, 'secret.txt', `${file_secret}\n`);
  const env = { ALLSPARK_SECRET: env_secret };
  const s = await h.start_server({ secret: null, args: ['--secret-file', file], env });
  t.after(() => s.stop());
  const node = h.uid('both');
  await assert_accepted(s, h.mint_token({ sub: node }, file_secret), node);
  await assert_refused(s, h.mint_token({ sub: node }, env_secret), 'the environment\'s secret');
  const key = mint_with_cli(['--node-id', node, '--secret-file', file], env);
  assert.ok(verify_hs256(key, file_secret), 'token signs with the file\'s secret');
  // A bad file is an error even when the environment has a secret.
  assert_exit_2_naming(h.run_cli(['token', '--node-id', node, '--secret-file', path.join(dir, 'missing')], { env }),
                       '--secret-file', 'token with a missing file and ALLSPARK_SECRET');
});

test('token with no secret anywhere exits 2 with one line and creates nothing', T, (t) => {
  const dir = with_tmp(t);
  const r = h.run_cli(['token', '--node-id', 'n1'], { cwd: dir });
  assert.equal(r.status, 2, `${r.status} ${r.stdout} ${r.stderr}`);
  assert.equal(r.stdout, '');
  assert.match(r.stderr, /^[^\n]+\n?$/, `exactly one line: ${JSON.stringify(r.stderr)}`);
  assert.deepEqual(fs.readdirSync(dir), [], 'token never creates a secret or a store');
});
