import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startIdp, type TestIdp } from '../../test/support/idp.ts';
import { call, getWithHost } from './helpers.ts';

let idp: TestIdp;
before(async () => {
  idp = await startIdp();
});
after(() => idp?.stop());

describe('public endpoints', () => {
  test('/healthz answers {"status":"ok"}', async () => {
    const res = await call(`${idp.origin}/healthz`);
    assert.equal(res.status, 200);
    assert.deepEqual(res.body, { status: 'ok' });
  });

  test('discovery advertises the configured issuer and issuer-based endpoints', async () => {
    const res = await call(`${idp.issuer}/.well-known/openid-configuration`);
    assert.equal(res.status, 200);
    assert.equal(res.body.issuer, idp.issuer);
    assert.equal(res.body.token_endpoint, `${idp.issuer}/token`);
    assert.equal(res.body.introspection_endpoint, `${idp.issuer}/introspect`);
    assert.match(res.body.introspection_endpoint, /\/oauth\/introspect$/);
    assert.equal(res.body.revocation_endpoint, `${idp.issuer}/revoke`);
    assert.equal(res.body.jwks_uri, `${idp.issuer}/jwks.json`);
    assert.ok(res.body.grant_types_supported.includes('client_credentials'));
    // Only the OIDC scopes are static; resource servers' scopes (service.api) are data, not advertised.
    assert.deepEqual([...res.body.scopes_supported].sort(), ['email', 'offline_access', 'openid', 'profile']);
    assert.ok(res.body.token_endpoint_auth_methods_supported.includes('client_secret_basic'));
  });

  test('RFC 8414 metadata at /.well-known/oauth-authorization-server/oauth is the same document', async () => {
    const oidc = await call(`${idp.issuer}/.well-known/openid-configuration`);
    const rfc8414 = await call(`${idp.origin}/.well-known/oauth-authorization-server/oauth`);
    assert.equal(rfc8414.status, 200);
    assert.deepEqual(rfc8414.body, oidc.body);
  });

  test('a request with a foreign Host header still gets issuer-based URLs in discovery', async () => {
    const res = await getWithHost(`${idp.issuer}/.well-known/openid-configuration`, 'evil.example:6666');
    assert.equal(res.status, 200);
    assert.equal(res.body.issuer, idp.issuer);
    const urls = Object.entries(res.body).filter(([, v]) => typeof v === 'string' && v.startsWith('http'));
    assert.ok(urls.length >= 5);
    for (const [key, url] of urls) assert.ok((url as string).startsWith(`${idp.issuer}/`) || url === idp.issuer, `${key}: ${url}`);
    assert.doesNotMatch(JSON.stringify(res.body), /evil\.example/);
  });

  test('a foreign X-Forwarded-Host / X-Forwarded-Proto does not change discovery either', async () => {
    const res = await call(`${idp.issuer}/.well-known/openid-configuration`, {
      headers: { 'x-forwarded-host': 'evil.example', 'x-forwarded-proto': 'https' },
    });
    assert.equal(res.body.issuer, idp.issuer);
    assert.equal(res.body.token_endpoint, `${idp.issuer}/token`);
  });

  test('the JWKS holds public RSA signing keys only (no private members)', async () => {
    const res = await call(`${idp.issuer}/jwks.json`);
    assert.equal(res.status, 200);
    assert.equal(res.body.keys.length, 1);
    for (const key of res.body.keys) {
      assert.deepEqual(Object.keys(key).sort(), ['alg', 'e', 'kid', 'kty', 'n', 'use']);
      assert.equal(key.kty, 'RSA');
      assert.equal(key.use, 'sig');
      assert.equal(key.alg, 'RS256');
      for (const secret of ['d', 'p', 'q', 'dp', 'dq', 'qi']) assert.equal(secret in key, false, `no ${secret}`);
    }
  });

  test('an unknown route answers 404 JSON not_found', async () => {
    for (const path of ['/nope', '/oauth/nope', '/api/global/adminx']) {
      const res = await call(`${idp.origin}${path}`);
      assert.equal(res.status, 404, path);
      assert.match(res.headers.get('content-type') ?? '', /^application\/json/);
      assert.deepEqual(res.body, { error: 'not_found', error_description: `no route GET ${path}` });
    }
  });
});
