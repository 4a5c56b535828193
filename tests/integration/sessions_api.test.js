// The sessions HTTP API (PROTOCOL.md section 5): create, read, join, leave,
// reveal, delete and list, who may do what, and the section 8 errors of bad
// input, after which everyone else's traffic still flows.
'use strict';
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const h = require('./lib/harness');

const T = { timeout: 60000 };
const LIMIT = 4096;  // --max-message-bytes of this file's server
const VALID_ID = /^[A-Za-z0-9._:@-]{1,128}$/;
let server;
let app;  // an app key

before(async () => {
  server = await h.start_server({ args: ['--max-message-bytes', String(LIMIT)] });
  app = h.node_key(server, { node: 'backend', role: 'app' });
});
after(async () => { await server?.stop(); });

const key_of = (node) => h.node_key(server, { node });
function api(key, method, path, body) {
  return h.http_request(server, { method, path, body, headers: key === undefined ? {} : { authorization: `Bearer ${key}` } });
}
// A JSON answer with this status and exactly this body.
function assert_answer(res, status, body) {
  assert.equal(res.status, status, res.text);
  assert.match(res.headers['content-type'] ?? '', /^application\/json\b/, res.text);
  assert.deepEqual(res.json, body, res.text);
}
async function create(key, body = {}) {
  const r = await api(key, 'POST', '/v1/sessions', body);
  assert.equal(r.status, 201, r.text);
  return r.json.session_id;
}
const get = (key, id) => api(key, 'GET', `/v1/sessions/${id}`);
const members_of = async (id) => {
  const r = await get(app, id);
  assert.equal(r.status, 200, r.text);
  return r.json.members;
};
const join = (key, id, body = {}) => api(key, 'POST', `/v1/sessions/${id}/join`, body);
const leave = (key, id, body = {}) => api(key, 'POST', `/v1/sessions/${id}/leave`, body);
const reveal = (key, id) => api(key, 'POST', `/v1/sessions/${id}/reveal`);
const sorted = (ids) => [...ids].sort();

test('POST /v1/sessions with no fields: 201 with a generated id; the caller is owner, game master and only member', T, async () => {
  const a = h.uid('a');
  const r = await api(key_of(a), 'POST', '/v1/sessions', {});
  assert.equal(r.status, 201, r.text);
  assert.match(r.headers['content-type'] ?? '', /^application\/json\b/);
  assert.deepEqual(Object.keys(r.json), ['session_id'], r.text);
  assert.match(r.json.session_id, VALID_ID);
  const s = r.json.session_id;
  assert_answer(await get(key_of(a), s), 200, {
    session_id: s, session_type: 0, owner_id: a, game_master_node_id: a, anyone_can_join: false,
    allow_anonymous: false, description: null, members: [a],
  });
  const other = await create(key_of(a));
  assert.notEqual(other, s, 'two generated ids are the same');
});

test('POST /v1/sessions with every field: GET shows them; node_ids and the game master are members, sorted', T, async () => {
  const [owner, gm, b, c] = [h.uid('zowner'), h.uid('gm'), h.uid('b'), h.uid('c')];
  const s = h.uid('room');
  const r = await api(key_of(owner), 'POST', '/v1/sessions', {
    session_id: s, session_type: 1, game_master_node_id: gm, anyone_can_join: true, allow_anonymous: true,
    node_ids: [c, b], description: 'the \u00e9 room',
  });
  assert_answer(r, 201, { session_id: s });
  const expected = {
    session_id: s, session_type: 1, owner_id: owner, game_master_node_id: gm, anyone_can_join: true,
    allow_anonymous: true, description: 'the \u00e9 room', members: sorted([owner, gm, b, c]),
  };
  for (const reader of [owner, gm, b, c]) assert_answer(await get(key_of(reader), s), 200, expected);
  // An explicit null description, a node listed twice and the owner listed
  // among node_ids: each member once.
  const s2 = await create(key_of(owner), { description: null, node_ids: [b, b, owner] });
  const got = (await get(app, s2)).json;
  assert.equal(got.description, null);
  assert.deepEqual(got.members, sorted([owner, b]));
  assert.equal(got.game_master_node_id, owner);
});

test('an existing session_id is 409 conflict and the session is unchanged', T, async () => {
  const [a, b] = [h.uid('a'), h.uid('b')];
  const s = await create(key_of(a), { session_id: h.uid('dup'), description: 'first' });
  h.assert_http_error(await api(key_of(b), 'POST', '/v1/sessions', { session_id: s, description: 'second' }), 409, 'conflict');
  h.assert_http_error(await api(app, 'POST', '/v1/sessions', { session_id: s }), 409, 'conflict');
  const got = (await get(key_of(a), s)).json;
  assert.equal(got.owner_id, a);
  assert.equal(got.description, 'first');
  assert.deepEqual(got.members, [a]);
});

test('GET /v1/sessions/{id}: members and apps read it; a non-member 403, unknown 404, a bad id 400', T, async () => {
  const [a, b, stranger] = [h.uid('a'), h.uid('b'), h.uid('x')];
  const s = await create(key_of(a), { node_ids: [b] });
  assert.equal((await get(key_of(b), s)).status, 200);
  assert.deepEqual((await get(app, s)).json.members, sorted([a, b]));
  h.assert_http_error(await get(key_of(stranger), s), 403, 'session_unauthorized');
  h.assert_http_error(await get(key_of(a), h.uid('nope')), 404, 'unknown_session');
  h.assert_http_error(await get(app, h.uid('nope')), 404, 'unknown_session');
  h.assert_http_error(await get(app, 'bad!id'), 400, 'bad_id');
  h.assert_http_error(await get(app, 'a%20b'), 400, 'bad_id');
  h.assert_http_error(await get(app, 'x'.repeat(129)), 400, 'bad_id');
  h.assert_http_error(await get(undefined, s), 401, 'unauthorized');
  h.assert_http_error(await get('not.a.key', s), 401, 'unauthorized');
});

test('join: a node joins itself only with anyone_can_join; the owner or an app adds others; a repeat is 200', T, async () => {
  const [owner, b, c, d, e] = [h.uid('o'), h.uid('b'), h.uid('c'), h.uid('d'), h.uid('e')];
  const closed = await create(key_of(owner), { node_ids: [b] });
  h.assert_http_error(await join(key_of(c), closed), 403, 'forbidden');
  h.assert_http_error(await join(key_of(c), closed, { node_id: c }), 403, 'forbidden');
  // A member that is not the owner may not add others.
  h.assert_http_error(await join(key_of(b), closed, { node_id: c }), 403, 'forbidden');
  assert_answer(await join(key_of(owner), closed, { node_id: c }), 200, { session_id: closed, node_id: c });
  assert_answer(await join(app, closed, { node_id: d }), 200, { session_id: closed, node_id: d });
  assert.deepEqual(await members_of(closed), sorted([owner, b, c, d]));

  const open = await create(key_of(owner), { anyone_can_join: true });
  assert_answer(await join(key_of(e), open), 200, { session_id: open, node_id: e });
  assert_answer(await join(key_of(c), open, { node_id: c }), 200, { session_id: open, node_id: c });
  // anyone_can_join lets a node add itself, not others.
  h.assert_http_error(await join(key_of(e), open, { node_id: d }), 403, 'forbidden');
  // Joining again: 200 with the current state, nothing changes.
  assert_answer(await join(key_of(e), open), 200, { session_id: open, node_id: e });
  assert_answer(await join(key_of(owner), closed, { node_id: b }), 200, { session_id: closed, node_id: b });
  assert.deepEqual(await members_of(open), sorted([owner, e, c]));
  assert.deepEqual(await members_of(closed), sorted([owner, b, c, d]));
});

test('anonymous members: join needs allow_anonymous; they appear by their anonymous id; an anonymous creator too', T, async () => {
  const [owner, b, c, d] = [h.uid('o'), h.uid('b'), h.uid('c'), h.uid('d')];
  const plain = await create(key_of(owner), { anyone_can_join: true });
  h.assert_http_error(await join(key_of(b), plain, { anonymous: true }), 403, 'forbidden');
  assert.deepEqual(await members_of(plain), [owner]);

  const s = await create(key_of(owner), { anyone_can_join: true, allow_anonymous: true });
  const r = await join(key_of(b), s, { anonymous: true });
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(Object.keys(r.json).sort(), ['anonymous_id', 'node_id', 'session_id'], r.text);
  assert.equal(r.json.session_id, s);
  assert.equal(r.json.node_id, b);
  const anon = r.json.anonymous_id;
  assert.match(anon, VALID_ID);
  assert.notEqual(anon, b);
  assert.deepEqual(await members_of(s), sorted([owner, anon]));
  assert.deepEqual((await get(key_of(b), s)).json.members, sorted([owner, anon]));  // it reads as a member
  // Joining again answers the same anonymous id.
  assert_answer(await join(key_of(b), s, { anonymous: true }), 200, { session_id: s, node_id: b, anonymous_id: anon });
  // The owner adds another node anonymously: another anonymous id.
  const r2 = await join(key_of(owner), s, { node_id: c, anonymous: true });
  assert.equal(r2.status, 200, r2.text);
  assert.notEqual(r2.json.anonymous_id, anon);
  assert.deepEqual(await members_of(s), sorted([owner, anon, r2.json.anonymous_id]));

  // An anonymous creator: owner, game master and member by its anonymous id,
  // and still the owner (it adds others).
  const created = await api(key_of(d), 'POST', '/v1/sessions', { allow_anonymous: true, anonymous: true });
  assert.equal(created.status, 201, created.text);
  const s2 = created.json.session_id;
  const got = (await get(key_of(d), s2)).json;
  assert.match(got.owner_id, VALID_ID);
  assert.notEqual(got.owner_id, d);
  assert.equal(got.game_master_node_id, got.owner_id);
  assert.deepEqual(got.members, [got.owner_id]);
  if (created.json.anonymous_id !== undefined) assert.equal(created.json.anonymous_id, got.owner_id);
  assert_answer(await join(key_of(d), s2, { node_id: c }), 200, { session_id: s2, node_id: c });
  assert.deepEqual(await members_of(s2), sorted([got.owner_id, c]));
});

test('leave: a member leaves itself; the owner or an app removes others; others 403; a non-member 403', T, async () => {
  const [owner, b, c, d, stranger] = [h.uid('o'), h.uid('b'), h.uid('c'), h.uid('d'), h.uid('x')];
  const s = await create(key_of(owner), { node_ids: [b, c, d] });
  h.assert_http_error(await leave(key_of(b), s, { node_id: c }), 403, 'forbidden');
  assert_answer(await leave(key_of(b), s), 200, { session_id: s, node_id: b });
  h.assert_http_error(await get(key_of(b), s), 403, 'session_unauthorized');
  h.assert_http_error(await leave(key_of(b), s), 403, 'session_unauthorized');
  h.assert_http_error(await leave(key_of(stranger), s), 403, 'session_unauthorized');
  h.assert_http_error(await leave(key_of(owner), s, { node_id: stranger }), 403, 'session_unauthorized');
  assert_answer(await leave(key_of(owner), s, { node_id: c }), 200, { session_id: s, node_id: c });
  assert_answer(await leave(app, s, { node_id: d }), 200, { session_id: s, node_id: d });
  assert.deepEqual(await members_of(s), [owner]);
});

test('reveal: the anonymous id is replaced by the node_id; a plain member 200; a non-member 403', T, async () => {
  const [owner, b, stranger] = [h.uid('o'), h.uid('b'), h.uid('x')];
  const s = await create(key_of(owner), { anyone_can_join: true, allow_anonymous: true });
  const anon = (await join(key_of(b), s, { anonymous: true })).json.anonymous_id;
  assert.deepEqual(await members_of(s), sorted([owner, anon]));
  assert_answer(await reveal(key_of(b), s), 200, { session_id: s, node_id: b });
  assert.deepEqual(await members_of(s), sorted([owner, b]));
  assert_answer(await reveal(key_of(b), s), 200, { session_id: s, node_id: b });
  assert_answer(await reveal(key_of(owner), s), 200, { session_id: s, node_id: owner });
  h.assert_http_error(await reveal(key_of(stranger), s), 403, 'session_unauthorized');
  assert.deepEqual(await members_of(s), sorted([owner, b]));
});

test('DELETE: the owner or an app only; then GET 404, sending -6 unknown_session, and the id is free again', T, async () => {
  const [owner, b] = [h.uid('o'), h.uid('b')];
  const s = await create(key_of(owner), { session_id: h.uid('gone'), node_ids: [b] });
  h.assert_http_error(await api(key_of(b), 'DELETE', `/v1/sessions/${s}`), 403, 'forbidden');
  h.assert_http_error(await api(key_of(h.uid('x')), 'DELETE', `/v1/sessions/${s}`), 403, 'forbidden');
  assert.deepEqual(await members_of(s), sorted([owner, b]));
  assert_answer(await api(key_of(owner), 'DELETE', `/v1/sessions/${s}`), 200, { session_id: s });
  h.assert_http_error(await get(key_of(owner), s), 404, 'unknown_session');
  h.assert_http_error(await api(key_of(owner), 'DELETE', `/v1/sessions/${s}`), 404, 'unknown_session');
  const c = await h.connect(server, { node: b });
  await c.send({ dest_session_id: s, id: 'after-delete', payload: 1 });
  h.assert_error_frame(await c.next(), 'unknown_session', 'after-delete');
  await c.close();
  assert_answer(await api(key_of(b), 'GET', '/v1/sessions'), 200, { sessions: [] });
  // The id can be created again; an app deletes any session.
  assert.equal(await create(key_of(b), { session_id: s }), s);
  assert_answer(await api(app, 'DELETE', `/v1/sessions/${s}`), 200, { session_id: s });
  h.assert_http_error(await get(app, s), 404, 'unknown_session');
});

test('GET /v1/sessions: a node\'s sessions, sorted; a node asks for itself only, an app for anyone', T, async () => {
  const [a, b, loner] = [h.uid('a'), h.uid('b'), h.uid('l')];
  const ids = [h.uid('s-z'), h.uid('s-a'), h.uid('s-m')];
  for (const id of ids) await create(key_of(a), { session_id: id, node_ids: id === ids[1] ? [] : [b] });
  assert_answer(await api(key_of(a), 'GET', '/v1/sessions'), 200, { sessions: sorted(ids) });
  assert_answer(await api(key_of(a), 'GET', `/v1/sessions?node_id=${a}`), 200, { sessions: sorted(ids) });
  assert_answer(await api(key_of(b), 'GET', '/v1/sessions'), 200, { sessions: sorted([ids[0], ids[2]]) });
  assert_answer(await api(app, 'GET', `/v1/sessions?node_id=${b}`), 200, { sessions: sorted([ids[0], ids[2]]) });
  assert_answer(await api(key_of(loner), 'GET', '/v1/sessions'), 200, { sessions: [] });
  h.assert_http_error(await api(key_of(b), 'GET', `/v1/sessions?node_id=${a}`), 403, 'forbidden');
  h.assert_http_error(await api(app, 'GET', '/v1/sessions?node_id=bad!id'), 400, 'bad_id');
  h.assert_http_error(await api(undefined, 'GET', '/v1/sessions'), 401, 'unauthorized');
  await leave(key_of(b), ids[2]);
  assert_answer(await api(key_of(b), 'GET', '/v1/sessions'), 200, { sessions: [ids[0]] });
});

test('join, leave, reveal, delete of an unknown session are 404; a bad id in the path is 400 bad_id', T, async () => {
  const a = key_of(h.uid('a'));
  const unknown = h.uid('nope');
  for (const [method, suffix] of [['POST', '/join'], ['POST', '/leave'], ['POST', '/reveal'], ['DELETE', ''], ['GET', '']]) {
    h.assert_http_error(await api(a, method, `/v1/sessions/${unknown}${suffix}`, method === 'POST' ? {} : undefined),
                        404, 'unknown_session');
    h.assert_http_error(await api(app, method, `/v1/sessions/bad!id${suffix}`, method === 'POST' ? {} : undefined),
                        400, 'bad_id');
  }
  await h.assert_traffic_flows(server);
});

test('bad create bodies: each gets its section 8 error, nothing is created, and traffic flows', T, async () => {
  const a = h.uid('a');
  const k = key_of(a);
  const post = (body) => api(k, 'POST', '/v1/sessions', body);
  const taken = h.uid('taken');
  const cases = [
    ['{"session_id":', 400, 'bad_json'],
    [Buffer.from([0x7b, 0xff, 0x7d]), 400, 'bad_json'],
    ['[1]', 400, 'not_an_object'],
    ['"room"', 400, 'not_an_object'],
    ['null', 400, 'not_an_object'],
    [{ session_id: 'bad id' }, 400, 'bad_id'],
    [{ session_id: 'x'.repeat(129) }, 400, 'bad_id'],
    [{ session_id: '' }, 400, 'bad_id'],
    [{ node_ids: [h.uid('ok'), 'bad id'] }, 400, 'bad_id'],
    [{ game_master_node_id: 'bad/id' }, 400, 'bad_id'],
    [{ session_type: 2 }, 400, 'bad_field'],
    [{ session_type: '0' }, 400, 'bad_field'],
    [{ session_type: 0.5 }, 400, 'bad_field'],
    [{ anyone_can_join: 'yes' }, 400, 'bad_field'],
    [{ anyone_can_join: 1 }, 400, 'bad_field'],
    [{ allow_anonymous: 'true' }, 400, 'bad_field'],
    [{ node_ids: 'b' }, 400, 'bad_field'],
    [{ node_ids: [1] }, 400, 'bad_field'],
    [{ node_ids: { b: true } }, 400, 'bad_field'],
    [{ description: 5 }, 400, 'bad_field'],
    [{ description: { text: 'x' } }, 400, 'bad_field'],
    [`{"session_id":"${taken}","session_id":"${h.uid('other')}"}`, 400, 'bad_field'],
    [{ anonymous: true }, 403, 'forbidden'],
    [{ allow_anonymous: false, anonymous: true }, 403, 'forbidden'],
    [JSON.stringify({ description: 'd'.repeat(LIMIT) }), 413, 'too_large'],
    [JSON.stringify({ node_ids: Array.from({ length: 4 << 16 }, (_, i) => `member-${i}`) }).padEnd(4 << 20, ' '),
     413, 'too_large'],  // a 4 MiB body
  ];
  for (const [body, status, code] of cases) {
    const r = await post(body);
    assert.equal(r.status, status, `${typeof body === 'string' ? body.slice(0, 80) : JSON.stringify(body)}: ${r.text}`);
    h.assert_http_error(r, status, code);
  }
  assert_answer(await api(k, 'GET', '/v1/sessions'), 200, { sessions: [] });
  h.assert_http_error(await get(app, taken), 404, 'unknown_session');
  // Exactly the limit is accepted.
  const head = '{"description":"';
  const exactly = head + 'd'.repeat(LIMIT - head.length - 2) + '"}';
  assert.equal(Buffer.byteLength(exactly), LIMIT);
  assert.equal((await post(exactly)).status, 201);
  await h.assert_traffic_flows(server);
});

test('bad join/leave bodies, missing or bad keys and wrong methods get their errors, and traffic flows', T, async () => {
  const owner = h.uid('o');
  const k = key_of(owner);
  const s = await create(k, { anyone_can_join: true, allow_anonymous: true });
  for (const path of [`/v1/sessions/${s}/join`, `/v1/sessions/${s}/leave`]) {
    h.assert_http_error(await api(k, 'POST', path, '{"node_id":'), 400, 'bad_json');
    h.assert_http_error(await api(k, 'POST', path, '[]'), 400, 'not_an_object');
    h.assert_http_error(await api(k, 'POST', path, { node_id: 'bad id' }), 400, 'bad_id');
    h.assert_http_error(await api(k, 'POST', path, { node_id: 7 }), 400, 'bad_field');
    h.assert_http_error(await api(k, 'POST', path, JSON.stringify({ node_id: 'x'.repeat(LIMIT) })), 413, 'too_large');
    h.assert_http_error(await api(undefined, 'POST', path, {}), 401, 'unauthorized');
  }
  h.assert_http_error(await join(k, s, { anonymous: 'yes' }), 400, 'bad_field');
  h.assert_http_error(await api(undefined, 'POST', '/v1/sessions', {}), 401, 'unauthorized');
  h.assert_http_error(await api('a.b.c', 'POST', '/v1/sessions', {}), 401, 'unauthorized');
  h.assert_http_error(await api(h.mint_token({ sub: owner }, 'another-secret'), 'POST', '/v1/sessions', {}), 401, 'unauthorized');
  h.assert_http_error(await api(undefined, 'DELETE', `/v1/sessions/${s}`), 401, 'unauthorized');
  // A wrong method is decided before authentication.
  const wrong = [['PUT', '/v1/sessions'], ['DELETE', '/v1/sessions'], ['PATCH', `/v1/sessions/${s}`],
                 ['GET', `/v1/sessions/${s}/join`], ['GET', `/v1/sessions/${s}/leave`],
                 ['GET', `/v1/sessions/${s}/reveal`], ['DELETE', `/v1/sessions/${s}/join`]];
  for (const [method, path] of wrong) {
    h.assert_http_error(await api(k, method, path), 405, 'method_not_allowed');
    h.assert_http_error(await api(undefined, method, path), 405, 'method_not_allowed');
  }
  h.assert_http_error(await api(k, 'POST', `/v1/sessions/${s}/frobnicate`, {}), 404, 'not_found');
  // Nothing changed.
  assert.deepEqual(await members_of(s), [owner]);
  await h.assert_traffic_flows(server);
});
