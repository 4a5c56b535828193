'use strict';
// PROTOCOL.md sections 2 and 3: auth keys, validation keys, and what the server
// answers to bad ones, on preconnect and on the WebSocket upgrade alike.
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');
const h = require('./lib/harness');

const T = { timeout: 30000 };
let server;
let other_server;  // same secret, another server_id
const now = () => Math.floor(Date.now() / 1000);

before(async () => {
  server = await h.start_server();
  other_server = await h.start_server({ secret: server.secret });
});
after(async () => {
  await server?.stop();
  await other_server?.stop();
});

function decode_jwt(key) {
  const parts = key.split('.');
  assert.equal(parts.length, 3, `not a JWT: ${key}`);
  return { header: JSON.parse(Buffer.from(parts[0], 'base64url')), payload: JSON.parse(Buffer.from(parts[1], 'base64url')),
           input: `${parts[0]}.${parts[1]}`, signature: parts[2] };
}

// Tries preconnect (Bearer) and the WebSocket upgrade (auth_key query, with a
// good validation key when one can be had) with `key`; both must fail alike.
async function assert_refused(key, status, code) {
  h.assert_http_error(await h.preconnect(server, key), status, code);
  h.assert_http_error(await h.preconnect(server, key, { via: 'query' }), status, code);
  const good = await h.preconnect(server, h.node_key(server, { node: h.uid('vk') }));
  const r = await h.open_ws(h.connect_url(server, { auth_key: key, validation_key: good.json.validation_key }));
  h.assert_http_error(r, status, code);
}

test('allspark token prints an HS256 key that verifies with node:crypto and connects', T, async () => {
  const node = h.uid('tok');
  const r = h.run_cli(['token', '--node-id', node, '--client-id', 'client-7', '--role', 'app', '--ttl', '3600',
                       '--secret', server.secret]);
  assert.equal(r.status, 0, r.stderr);
  const key = r.stdout.trim();
  assert.equal(r.stdout, `${key}\n`, 'token prints the key alone on one line');
  const jwt = decode_jwt(key);
  assert.equal(jwt.header.alg, 'HS256');
  assert.equal(jwt.signature, crypto.createHmac('sha256', server.secret).update(jwt.input).digest('base64url'));
  assert.equal(jwt.payload.sub, node);
  assert.equal(jwt.payload.client_id, 'client-7');
  assert.equal(jwt.payload.role, 'app');
  assert.ok(Math.abs(jwt.payload.exp - (now() + 3600)) <= 30, `exp ${jwt.payload.exp}`);
  const c = await h.connect(server, { key, node });
  assert.equal(c.welcome.payload.node_id, node);
  assert.equal(c.welcome.payload.client_id, 'client-7');
  await c.close();
});

test('allspark token finds the secret in ALLSPARK_SECRET and in --secret-file', T, async () => {
  const from_env = h.run_cli(['token', '--node-id', 'env-node'], { env: { ALLSPARK_SECRET: server.secret } });
  assert.equal(from_env.status, 0, from_env.stderr);
  const a = decode_jwt(from_env.stdout.trim());
  assert.equal(a.signature, crypto.createHmac('sha256', server.secret).update(a.input).digest('base64url'));
  assert.equal(a.payload.sub, 'env-node');
  assert.ok(a.payload.role === undefined || a.payload.role === 'node', `default role ${a.payload.role}`);
  const dir = h.make_tmp_dir();
  try {
    fs.writeFileSync(path.join(dir, 'secret.txt'), server.secret);
    const from_file = h.run_cli(['token', '--node-id', 'file-node', '--secret-file', path.join(dir, 'secret.txt')]);
    assert.equal(from_file.status, 0, from_file.stderr);
    const b = decode_jwt(from_file.stdout.trim());
    assert.equal(b.signature, crypto.createHmac('sha256', server.secret).update(b.input).digest('base64url'));
    assert.equal((await h.preconnect(server, from_file.stdout.trim())).status, 200);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('allspark token with no secret anywhere exits 2 with one line and creates nothing', T, async () => {
  const dir = h.make_tmp_dir();
  try {
    // cwd is the empty folder too: the default store (./allspark-data) must not appear either.
    const r = h.run_cli(['token', '--node-id', 'n1', '--store', `sqlite:${path.join(dir, 'data', 'allspark.db')}`], { cwd: dir });
    assert.equal(r.status, 2, `status ${r.status}, stdout ${r.stdout}`);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /^[^\n]+\n?$/, `expected exactly one line on stderr: ${JSON.stringify(r.stderr)}`);
    assert.deepEqual(fs.readdirSync(dir), [], 'token created files');
    const r2 = h.run_cli(['token', '--node-id', 'n1'], { cwd: dir });
    assert.equal(r2.status, 2, `default store: status ${r2.status}, stdout ${r2.stdout}`);
    assert.match(r2.stderr, /^[^\n]+\n?$/);
    assert.deepEqual(fs.readdirSync(dir), [], 'token created files under the default store');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('401 unauthorized for a missing, garbage, badly signed or expired auth key', T, async () => {
  h.assert_http_error(await h.preconnect(server, undefined), 401, 'unauthorized');
  const r = await h.open_ws(h.connect_url(server, {}));
  h.assert_http_error(r, 401, 'unauthorized');
  const node = h.uid('bad');
  for (const key of ['garbage', 'a.b.c', '', 'x'.repeat(3000),
                     h.mint_token({ sub: node }, 'not-the-secret'),
                     h.mint_token({ sub: node, exp: now() - 10 }, server.secret)]) {
    await assert_refused(key, 401, 'unauthorized');
  }
  await h.assert_traffic_flows(server);
});

test('401 for alg none, alg HS512 (correctly signed) and a header without alg', T, async () => {
  const node = h.uid('alg');
  await assert_refused(h.mint_token({ sub: node }, server.secret, { alg: 'none' }), 401, 'unauthorized');
  await assert_refused(h.mint_token({ sub: node }, server.secret, { alg: 'HS512' }), 401, 'unauthorized');
  // Signed with HS256 but the header says HS512: also refused.
  const lying = h.mint_token({ sub: node }, server.secret, { alg: 'HS256', header: { alg: 'HS512' } });
  await assert_refused(lying, 401, 'unauthorized');
  const no_alg = `${h.b64url({ typ: 'JWT' })}.${h.b64url({ sub: node })}`;
  await assert_refused(`${no_alg}.${crypto.createHmac('sha256', server.secret).update(no_alg).digest('base64url')}`, 401, 'unauthorized');
});

test('401 for a sub that is missing or not a string; 400 bad_id for an invalid sub', T, async () => {
  await assert_refused(h.mint_token({ client_id: 'c1' }, server.secret), 401, 'unauthorized');
  await assert_refused(h.mint_token({ sub: 123 }, server.secret), 401, 'unauthorized');
  await assert_refused(h.mint_token({ sub: null }, server.secret), 401, 'unauthorized');
  await assert_refused(h.mint_token('[1,2]', server.secret), 401, 'unauthorized');
  for (const sub of ['', 'a b', 'é', 'x'.repeat(129), 'a/b']) {
    await assert_refused(h.mint_token({ sub }, server.secret), 400, 'bad_id');
  }
  await assert_refused(h.mint_token({ sub: h.uid('c'), client_id: 'a b' }, server.secret), 400, 'bad_id');
  // 128 bytes of the allowed alphabet is a valid id.
  const longest = `${'A-z0.9_:@'.repeat(14)}ab`;
  assert.equal(longest.length, 128);
  const c = await h.connect(server, { node: longest });
  assert.equal(c.welcome.payload.node_id, longest);
  await c.close();
});

test('a key with a future exp and an app role is accepted', T, async () => {
  const c = await h.connect(server, { node: h.uid('exp'), exp: now() + 600, role: 'app' });
  assert.equal(c.welcome.type, -10);
  await c.close();
});

test('preconnect takes the key as a Bearer header and as the auth_key query', T, async () => {
  const node = h.uid('pc');
  const key = h.node_key(server, { node });
  const a = await h.preconnect(server, key);
  const b = await h.preconnect(server, key, { via: 'query' });
  assert.equal(a.status, 200, a.text);
  assert.equal(b.status, 200, b.text);
  assert.equal(typeof a.json.validation_key, 'string');
  assert.equal(typeof b.json.validation_key, 'string');
  // Both validation keys open a connection for that node.
  for (const vk of [a.json.validation_key, b.json.validation_key]) {
    const r = await h.open_ws(h.connect_url(server, { auth_key: key, validation_key: vk }));
    assert.equal(r.status, 101, r.text);
    const w = await r.client.next();
    assert.equal(w.json.type, -10);
    assert.equal(w.json.payload.node_id, node);
    await r.client.close();
  }
});

test('the WebSocket upgrade also takes the auth key as a Bearer header', T, async () => {
  const node = h.uid('hdr');
  const key = h.node_key(server, { node });
  const vk = (await h.preconnect(server, key)).json.validation_key;
  const r = await h.open_ws(h.connect_url(server, { validation_key: vk }), { headers: { authorization: `Bearer ${key}` } });
  assert.equal(r.status, 101, r.text);
  assert.equal((await r.client.next()).json.payload.node_id, node);
  await r.client.close();
});

test('403 forbidden for a missing validation key, or one of another node or server', T, async () => {
  const node = h.uid('vk');
  const key = h.node_key(server, { node });
  h.assert_http_error(await h.open_ws(h.connect_url(server, { auth_key: key })), 403, 'forbidden');
  h.assert_http_error(await h.open_ws(h.connect_url(server, { auth_key: key, validation_key: 'garbage' })), 403, 'forbidden');
  const others = (await h.preconnect(server, h.node_key(server, { node: h.uid('other') }))).json.validation_key;
  h.assert_http_error(await h.open_ws(h.connect_url(server, { auth_key: key, validation_key: others })), 403, 'forbidden');
  // An auth key is not a validation key.
  h.assert_http_error(await h.open_ws(h.connect_url(server, { auth_key: key, validation_key: key })), 403, 'forbidden');
  // Minted by another server (same secret, other server_id) for this very node.
  const elsewhere = await h.preconnect(other_server, key);
  assert.equal(elsewhere.status, 200, elsewhere.text);
  assert.notEqual(elsewhere.json.server_id, (await h.preconnect(server, key)).json.server_id);
  h.assert_http_error(await h.open_ws(h.connect_url(server, { auth_key: key, validation_key: elsewhere.json.validation_key })), 403, 'forbidden');
  // ...while it is good on its own server.
  const ok = await h.open_ws(h.connect_url(other_server, { auth_key: key, validation_key: elsewhere.json.validation_key }));
  assert.equal(ok.status, 101, ok.text);
  await ok.client.close();
  await h.assert_traffic_flows(server);
});

test('403 forbidden for an expired validation key', T, async (t) => {
  // A server whose clock runs 120 s behind, with the same secret and server_id,
  // mints a validation key that had expired (60 s validity) before it was made.
  const dir = h.make_tmp_dir();
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const env = h.time_shift_env(dir, -120);
  if (!env) return t.skip('no C compiler to build the clock shim');
  const server_id = h.uid('srv');
  const past = await h.start_server({ secret: server.secret, env, args: ['--server-id', server_id] });
  t.after(() => past.stop());
  const present = await h.start_server({ secret: server.secret, args: ['--server-id', server_id] });
  t.after(() => present.stop());
  const node = h.uid('late');
  const key = h.node_key(server, { node });
  const stale = await h.preconnect(past, key);
  assert.equal(stale.status, 200, stale.text);
  assert.equal(stale.json.server_id, server_id);
  const vk = decode_jwt(stale.json.validation_key).payload;
  if (vk.exp !== undefined) assert.ok(vk.exp < now(), `the shifted server minted exp ${vk.exp}, now ${now()}`);
  h.assert_http_error(await h.open_ws(h.connect_url(present, { auth_key: key, validation_key: stale.json.validation_key })), 403, 'forbidden');
  // A fresh one from the present server works: the refusal was the expiry.
  const fresh = await h.preconnect(present, key);
  const ok = await h.open_ws(h.connect_url(present, { auth_key: key, validation_key: fresh.json.validation_key }));
  assert.equal(ok.status, 101, ok.text);
  await ok.client.close();
});

test('the auth key is checked before the validation key', T, async () => {
  const node = h.uid('order');
  h.assert_http_error(await h.open_ws(h.connect_url(server, { auth_key: 'garbage', validation_key: 'garbage' })), 401, 'unauthorized');
  h.assert_http_error(await h.open_ws(h.connect_url(server, {})), 401, 'unauthorized');
  const expired = h.mint_token({ sub: node, exp: now() - 5 }, server.secret);
  h.assert_http_error(await h.open_ws(h.connect_url(server, { auth_key: expired })), 401, 'unauthorized');
  h.assert_http_error(await h.open_ws(h.connect_url(server, { auth_key: h.mint_token({ sub: 'a b' }, server.secret) })), 400, 'bad_id');
});

test('--no-validation-key connects with the auth key alone', T, async (t) => {
  const s = await h.start_server({ args: ['--no-validation-key'] });
  t.after(() => s.stop());
  const a = await h.connect(s, { node: h.uid('nv-a'), validation: false });
  const b = await h.connect(s, { node: h.uid('nv-b'), validation: false });
  await a.send({ dest_id: b.node, payload: 'hi' });
  assert.equal((await b.next()).json.payload, 'hi');
  // A bad auth key is still refused.
  h.assert_http_error(await h.open_ws(h.connect_url(s, { auth_key: 'garbage' })), 401, 'unauthorized');
  h.assert_http_error(await h.open_ws(h.connect_url(s, { auth_key: h.mint_token({ sub: 'n' }, 'wrong') })), 401, 'unauthorized');
  await a.close();
  await b.close();
});
