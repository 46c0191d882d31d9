import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { adminRequest, registerClient, startIdp, type TestIdp } from '../../../test/support/idp.ts';
import { admin, bearer } from '../helpers.ts';

let idp: TestIdp;

before(async () => {
  idp = await startIdp();
  await registerClient(idp, 'service-introspector');
});
after(() => idp?.stop());

describe('admin authentication', () => {
  test('no Authorization header is 401 with WWW-Authenticate: Bearer realm="idp-admin"', async () => {
    const res = await admin(idp, '/clients');
    assert.equal(res.status, 401);
    assert.equal(res.headers.get('www-authenticate'), 'Bearer realm="idp-admin"');
    assert.deepEqual(res.body, { error: 'invalid_token', error_description: 'an admin bearer token is required' });
  });

  const wrong: [string, Record<string, string>][] = [
    ['a wrong token of the same length', bearer('x'.repeat(32))],
    ['a wrong token of another length', bearer('short')],
    ['the right token with a suffix', { authorization: '' }],
    ['another scheme', { authorization: 'Basic YWRtaW46YWRtaW4=' }],
    ['a lowercase scheme', { authorization: '' }],
  ];
  for (const [label, headers] of wrong) {
    test(`${label} is 401 with a WWW-Authenticate invalid_token challenge`, async () => {
      if (label === 'the right token with a suffix') headers.authorization = `Bearer ${idp.adminToken}x`;
      if (label === 'a lowercase scheme') headers.authorization = `bearer ${idp.adminToken}`;
      const res = await admin(idp, '/clients', { headers });
      assert.equal(res.status, 401);
      assert.equal(res.headers.get('www-authenticate'), 'Bearer realm="idp-admin", error="invalid_token"');
      assert.deepEqual(res.body, { error: 'invalid_token', error_description: 'the admin token is not valid' });
    });
  }

  test('every admin route requires the token (DELETE and rotation too)', async () => {
    for (const [method, path] of [['POST', '/clients'], ['GET', '/clients/service-introspector'], ['DELETE', '/clients/service-introspector'], ['POST', '/clients/service-introspector/secret']] as const) {
      const res = await admin(idp, path, { method });
      assert.equal(res.status, 401, `${method} ${path}`);
    }
    assert.equal((await adminRequest(idp, 'GET', '/clients/service-introspector')).status, 200, 'the client was not touched');
  });

});

test('the IDP output never contains the admin token, nor a wrong one that was tried', () => {
  const output = idp.output();
  assert.ok(output.includes('/api/global/admin/clients'), 'requests were logged');
  assert.equal(output.includes(idp.adminToken), false, 'the admin token leaked');
  assert.equal(output.includes('x'.repeat(32)), false, 'a wrong token leaked');
});
