import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startIdp, type TestIdp } from '../../test/support/idp.ts';
import { admin, bearer } from './helpers.ts';

// Own IDP processes: these tests lock the test runner's address out of the admin API for a minute.
let idp: TestIdp;
let spoofed: TestIdp;
before(async () => {
  [idp, spoofed] = await Promise.all([startIdp(), startIdp()]);
});
after(() => Promise.all([idp?.stop(), spoofed?.stop()]));

describe('admin authentication rate limit', () => {
  test('after 20 failed attempts from one address the admin API answers 429 with Retry-After, even to the right token', async () => {
    assert.equal((await admin(idp, '/clients', { headers: bearer(idp.adminToken) })).status, 200, 'a success counts as no failure');
    for (let i = 1; i <= 20; i++) {
      const res = await admin(idp, '/clients', i % 2 ? { headers: bearer(`wrong-${i}`) } : {});
      assert.equal(res.status, 401, `attempt ${i}`);
    }
    for (const headers of [bearer('wrong'), bearer(idp.adminToken), {}]) {
      const res = await admin(idp, '/clients', { headers });
      assert.equal(res.status, 429);
      assert.equal(res.headers.get('retry-after'), '60');
      assert.deepEqual(res.body, { error: 'too_many_requests', error_description: 'too many failed admin authentications; retry later' });
    }
  });

  test('the lock-out covers every admin route but not the OpenAPI document nor the OAuth endpoints', async () => {
    assert.equal((await admin(idp, '/clients/x', { method: 'DELETE', headers: bearer(idp.adminToken) })).status, 429);
    assert.equal((await admin(idp, '/clients/x/secret', { method: 'POST', headers: bearer(idp.adminToken) })).status, 429);
    assert.equal((await admin(idp, '/openapi.json')).status, 200);
    assert.equal((await fetch(`${idp.issuer}/jwks.json`)).status, 200);
    assert.equal((await fetch(`${idp.origin}/healthz`)).status, 200);
  });

  test('a client cannot escape the lock-out by sending a different X-Forwarded-For each time', async () => {
    const statuses: number[] = [];
    for (let i = 1; i <= 25; i++) {
      const res = await admin(spoofed, '/clients', { headers: { ...bearer(`guess-${i}`), 'x-forwarded-for': `203.0.113.${i}` } });
      statuses.push(res.status);
    }
    assert.deepEqual(statuses, [...Array(20).fill(401), ...Array(5).fill(429)]);
  });
});
