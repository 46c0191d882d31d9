import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { after, before, describe, test } from 'node:test';
import Koa from 'koa';
import { requireAdminToken } from '../src/admin/auth.ts';
import { jsonErrors } from '../src/errors.ts';
import { close, listen } from '../../lib/server.ts';
import { startIdp, type TestIdp } from '../../test/support/idp.ts';
import { admin, bearer } from './helpers.ts';

// Own IDP processes: these tests push the test runner's address over the admin API's failure bound.
let idp: TestIdp;
let spoofed: TestIdp;
let proxied: TestIdp;
before(async () => {
  [idp, spoofed, proxied] = await Promise.all([startIdp(), startIdp(), startIdp({ env: { IDP_TRUSTED_PROXIES: '127.0.0.1' } })]);
});
after(() => Promise.all([idp?.stop(), spoofed?.stop(), proxied?.stop()]));

const TOO_MANY = { error: 'too_many_requests', error_description: 'too many failed admin authentications; retry later' };

describe('admin authentication rate limit', () => {
  test('25 requests without credentials (what <img> tags on a hostile page send) are 401, are not counted, and the right token still gets 200', async () => {
    for (let i = 1; i <= 25; i++) {
      const res = await admin(idp, '/clients', i % 5 ? {} : { headers: { authorization: 'Basic YWRtaW46YWRtaW4=' } });
      assert.equal(res.status, 401, `request ${i}`);
    }
    assert.equal((await admin(idp, '/clients', { headers: bearer(idp.adminToken) })).status, 200);
    // Not counted: the first wrong token after them is still a plain 401.
    assert.equal((await admin(idp, '/clients', { headers: bearer('wrong-0') })).status, 401);
  });

  test('after 20 wrong tokens from one address its wrong tokens get 429 + Retry-After; the right token still 200, no token still 401', async () => {
    // wrong-0 of the test above was the first of the 20.
    for (let i = 1; i <= 19; i++) assert.equal((await admin(idp, '/clients', { headers: bearer(`wrong-${i}`) })).status, 401, `attempt ${i}`);
    for (let i = 20; i <= 25; i++) {
      const res = await admin(idp, '/clients', { headers: bearer(`wrong-${i}`) });
      assert.equal(res.status, 429, `attempt ${i}`);
      assert.equal(res.headers.get('retry-after'), '60');
      assert.deepEqual(res.body, TOO_MANY);
    }
    assert.equal((await admin(idp, '/clients', { headers: bearer(idp.adminToken) })).status, 200, 'the holder is not locked out');
    const anonymous = await admin(idp, '/clients');
    assert.equal(anonymous.status, 401);
    assert.equal(anonymous.headers.get('retry-after'), null);
    assert.equal((await admin(idp, '/clients', { headers: bearer('wrong-26') })).status, 429, 'a success does not reset the guesser');
  });

  test('the bound covers every admin route but not the OpenAPI document nor the OAuth endpoints', async () => {
    assert.equal((await admin(idp, '/clients/x', { method: 'DELETE', headers: bearer('wrong') })).status, 429);
    assert.equal((await admin(idp, '/clients/x/secret', { method: 'POST', headers: bearer('wrong') })).status, 429);
    assert.equal((await admin(idp, '/clients/x', { method: 'DELETE', headers: bearer(idp.adminToken) })).status, 404);
    assert.equal((await admin(idp, '/openapi.json')).status, 200);
    assert.equal((await fetch(`${idp.issuer}/jwks.json`)).status, 200);
    assert.equal((await fetch(`${idp.origin}/healthz`)).status, 200);
  });

  test('a client cannot escape the bound by sending a different X-Forwarded-For each time', async () => {
    const statuses: number[] = [];
    for (let i = 1; i <= 25; i++) {
      const res = await admin(spoofed, '/clients', { headers: { ...bearer(`guess-${i}`), 'x-forwarded-for': `203.0.113.${i}` } });
      statuses.push(res.status);
    }
    assert.deepEqual(statuses, [...Array(20).fill(401), ...Array(5).fill(429)]);
    assert.equal((await admin(spoofed, '/clients', { headers: bearer(spoofed.adminToken) })).status, 200);
  });

  test('behind a trusted proxy (IDP_TRUSTED_PROXIES=127.0.0.1) each forwarded address has its own bound; entries left of it are ignored', async () => {
    const wrong = (i: number, forwardedFor: string) => admin(proxied, '/clients', { headers: { ...bearer(`guess-${i}`), 'x-forwarded-for': forwardedFor } });
    const statuses: number[] = [];
    for (let i = 1; i <= 21; i++) statuses.push((await wrong(i, `198.51.100.${i}, 203.0.113.1`)).status);
    assert.deepEqual(statuses, [...Array(20).fill(401), 429]);
    assert.equal((await wrong(22, '203.0.113.2')).status, 401, 'another forwarded address has its own budget');
    assert.equal((await wrong(23, '203.0.113.1')).status, 429);
  });
});

test('the window resets by the (injected) clock: wrong tokens are 401 again once windowMs has passed', async () => {
  let clock = 1_000_000;
  const app = new Koa();
  app.use(jsonErrors(() => {}));
  app.use(requireAdminToken('the-right-token', { maxFailures: 3, windowMs: 60_000, now: () => clock }));
  app.use((ctx) => {
    ctx.body = { ok: true };
  });
  const server = createServer(app.callback());
  const port = await listen(server, 0, '127.0.0.1');
  try {
    const call = async (token: string) => (await fetch(`http://127.0.0.1:${port}/`, { headers: { authorization: `Bearer ${token}` } })).status;
    assert.deepEqual([await call('a'), await call('b'), await call('c'), await call('d')], [401, 401, 401, 429]);
    assert.equal(await call('the-right-token'), 200);
    clock += 59_999;
    assert.equal(await call('e'), 429, 'still inside the window');
    clock += 1;
    assert.deepEqual([await call('f'), await call('g'), await call('h'), await call('i')], [401, 401, 401, 429], 'a new window, with its own bound');
  } finally {
    await close(server);
  }
});
