import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { adminRequest, startIdp, type TestIdp } from '../../../test/support/idp.ts';
import { admin, json, undeclaredAdminStatuses } from '../helpers.ts';

const openapi = JSON.parse(readFileSync(new URL('../../src/admin/openapi.json', import.meta.url), 'utf8'));
let idp: TestIdp;
const secrets: string[] = [];

before(async () => {
  idp = await startIdp();
});
after(() => idp?.stop());

describe('users', () => {
  const password = 'users-test-password-0123';
  test('POST /users creates an account: 201, no password or hash in the answer, a Location header', async () => {
    secrets.push(password);
    const res = await admin(idp, '/users', { method: 'POST', headers: json(idp.adminToken), body: JSON.stringify({ username: 'alice', password, name: 'Alice', email: 'alice@example.com' }) });
    assert.equal(res.status, 201, res.text);
    assert.equal(res.headers.get('location'), '/api/global/admin/users/alice');
    const { sub, created_at, ...rest } = res.body;
    assert.match(sub, /^[0-9a-f-]{36}$/);
    assert.equal(typeof created_at, 'number');
    assert.deepEqual(rest, { username: 'alice', name: 'Alice', email: 'alice@example.com' });
    assert.equal(res.text.includes(password), false);
  });

  test('GET /users and GET /users/:username show the account without any password', async () => {
    const list = await adminRequest(idp, 'GET', '/users');
    assert.equal(list.status, 200);
    assert.deepEqual(list.body.users.map((u: { username: string }) => u.username).includes('alice'), true);
    assert.doesNotMatch(JSON.stringify(list.body), /password|scrypt/i);
    const one = await adminRequest(idp, 'GET', '/users/alice');
    assert.equal(one.status, 200);
    assert.deepEqual(Object.keys(one.body).sort(), ['created_at', 'email', 'name', 'sub', 'username']);
  });

  test('a taken username is 409; invalid bodies are 400 invalid_request', async () => {
    const post = (body: unknown) => admin(idp, '/users', { method: 'POST', headers: json(idp.adminToken), body: JSON.stringify(body) });
    const taken = await post({ username: 'alice', password: 'another-password' });
    assert.equal(taken.status, 409);
    assert.deepEqual(taken.body, { error: 'invalid_request', error_description: 'a user named "alice" already exists' });
    for (const body of [{ username: 'Alice', password: 'long-enough' }, { username: 'bob', password: 'short' }, { username: 'bob' }, { username: 'bob', password: 'long-enough', role: 'admin' }, { username: 'bob', password: 'long-enough', email: 'nope' }]) {
      const res = await post(body);
      assert.equal(res.status, 400, JSON.stringify(body));
      assert.equal(res.body.error, 'invalid_request');
    }
    assert.equal((await adminRequest(idp, 'GET', '/users/bob')).status, 404);
  });

  test('a password of only whitespace (8 spaces, tabs) is 400 invalid_request', async () => {
    for (const password of [' '.repeat(8), '\t'.repeat(10), ' \u00a0 \u2003    ']) {
      const res = await admin(idp, '/users', { method: 'POST', headers: json(idp.adminToken), body: JSON.stringify({ username: 'blank', password }) });
      assert.equal(res.status, 400, JSON.stringify(password));
      assert.deepEqual(res.body, { error: 'invalid_request', error_description: 'password must not be only whitespace' });
    }
    assert.equal((await adminRequest(idp, 'GET', '/users/blank')).status, 404);
  });

  test('user names with NUL, bidi or other control characters, or look-alike letters are 400 (the ASCII pattern)', async () => {
    for (const username of ['ev\u0000e', 'eve\u202e', '\u2066eve', 'eve\u200b', 'eve\n', 'еve' /* Cyrillic е */, 'Eve']) {
      const res = await admin(idp, '/users', { method: 'POST', headers: json(idp.adminToken), body: JSON.stringify({ username, password: 'long-enough-password' }) });
      assert.equal(res.status, 400, JSON.stringify(username));
      assert.deepEqual(res.body, { error: 'invalid_request', error_description: 'username must be 1-64 characters of a-z 0-9 . _ - (lower case)' });
    }
    assert.equal((await adminRequest(idp, 'GET', '/users')).body.users.some((u: { username: string }) => u.username.includes('ve')), false);
  });

  test('DELETE /users/:username is 204, then 404', async () => {
    assert.equal((await adminRequest(idp, 'DELETE', '/users/alice')).status, 204);
    const res = await adminRequest(idp, 'GET', '/users/alice');
    assert.equal(res.status, 404);
    assert.deepEqual(res.body, { error: 'not_found', error_description: 'no user "alice"' });
    assert.equal((await adminRequest(idp, 'DELETE', '/users/alice')).status, 404);
    for (const username of ['Alice', '.alice', 'a%2Fb', 'x'.repeat(65)]) {
      assert.deepEqual((await adminRequest(idp, 'GET', `/users/${username}`)).body, { error: 'not_found', error_description: `no user "${decodeURIComponent(username)}"` });
    }
  });

  test('wrong methods on /users are 405 with Allow', async () => {
    assert.equal((await adminRequest(idp, 'PUT', '/users')).headers.get('allow'), 'GET, POST');
    assert.equal((await adminRequest(idp, 'POST', '/users/alice')).headers.get('allow'), 'GET, DELETE');
  });
});

test('every status the admin API answered in this file is declared for its operation in the OpenAPI document', () => {
  const { checked, undeclared } = undeclaredAdminStatuses(idp.output(), openapi);
  assert.ok(checked >= 10, `answers checked: ${checked}`);
  assert.deepEqual(undeclared, []);
});

test('the IDP output never contains a password or the admin token used in this file', () => {
  const output = idp.output();
  assert.ok(output.includes('/api/global/admin/users'), 'requests were logged');
  assert.ok(secrets.length >= 1, String(secrets.length));
  assert.equal(output.includes(idp.adminToken), false, 'the admin token leaked');
  for (const secret of secrets) assert.equal(output.includes(secret), false, 'a password leaked');
});
