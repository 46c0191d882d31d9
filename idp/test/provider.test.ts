import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import Database from 'better-sqlite3';
import { adminRequest, clientCredentialsToken, registerClient, SERVICE_API, startIdp, type RegisteredClient, type TestIdp } from '../../test/support/idp.ts';
import { call, introspect, oauth, stableIntrospection } from './helpers.ts';

let idp: TestIdp;
let introspector: RegisteredClient;
let solutrix: RegisteredClient;
let other: RegisteredClient;
const secrets: string[] = [];
const tokens: string[] = [];

async function register(name: string, scopes: string[] = []) {
  const client = await registerClient(idp, name, scopes);
  secrets.push(client.client_secret);
  return client;
}
async function issue(client: RegisteredClient, scope?: string) {
  const token = await clientCredentialsToken(idp, client, scope);
  tokens.push(token);
  return token;
}

before(async () => {
  idp = await startIdp();
  introspector = await register('service-introspector');
  solutrix = await register('solutrix-api', ['service.api']);
  other = await register('other-client', ['service.api']);
});
after(() => idp?.stop());

describe('discovery and keys', () => {
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
});

describe('client_credentials token issuance', () => {
  test('a client registered for service.api gets an opaque Bearer token with scope service.api', async () => {
    const res = await oauth(idp, '/token', solutrix, { grant_type: 'client_credentials', scope: 'service.api' });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('cache-control'), 'no-store');
    const { access_token, ...rest } = res.body;
    tokens.push(access_token);
    assert.deepEqual(rest, { expires_in: 600, scope: 'service.api', token_type: 'Bearer' });
    assert.equal(typeof access_token, 'string');
    assert.ok(access_token.length >= 32);
    assert.equal(access_token.includes('.'), false, 'an opaque token, not a JWT');
  });

  test('service-introspector sees the token active with client, scope, audience (the owning resource server), issuer and lifetime', async () => {
    const token = await issue(solutrix, 'service.api');
    const res = await introspect(idp, introspector, token);
    assert.equal(res.status, 200);
    assert.deepEqual(stableIntrospection(res.body), {
      active: true,
      aud: SERVICE_API,
      client_id: 'solutrix-api',
      scope: 'service.api',
      iss: idp.issuer,
      token_type: 'Bearer',
      exp: 'number',
      iat: 'number',
    });
    assert.equal(res.body.exp - res.body.iat, 600);
  });

  test('asking for a scope the client was not registered for is 400 invalid_scope', async () => {
    const res = await oauth(idp, '/token', solutrix, { grant_type: 'client_credentials', scope: 'service.api profile' });
    assert.equal(res.status, 400);
    assert.equal(res.body.error, 'invalid_scope');
  });

  test('a client registered with scopes [] cannot get service.api', async () => {
    const empty = await register('no-scopes', []);
    const res = await oauth(idp, '/token', empty, { grant_type: 'client_credentials', scope: 'service.api' });
    assert.equal(res.status, 400);
    assert.equal(res.body.error, 'invalid_scope');
    // Without a scope parameter it gets a token that carries no scope at all, bound to the stack's own
    // Service API (the default resource), which then answers 403 insufficient_scope.
    const token = await issue(empty);
    const seen = await introspect(idp, introspector, token);
    assert.deepEqual(stableIntrospection(seen.body), { active: true, aud: SERVICE_API, client_id: 'no-scopes', iss: idp.issuer, token_type: 'Bearer', exp: 'number', iat: 'number' });
  });

  test('a wrong client secret at the token endpoint is 401 invalid_client', async () => {
    const res = await oauth(idp, '/token', { client_id: 'solutrix-api', client_secret: 'wrong' }, { grant_type: 'client_credentials' });
    assert.equal(res.status, 401);
    assert.equal(res.body.error, 'invalid_client');
  });

  test('a grant type the client was not registered for is refused with 400', async () => {
    const res = await oauth(idp, '/token', solutrix, { grant_type: 'refresh_token', refresh_token: 'x' });
    assert.equal(res.status, 400);
    // oidc-provider's wording (RFC 6749 would say unauthorized_client).
    assert.deepEqual(res.body, { error: 'invalid_request', error_description: 'requested grant type is not allowed for this client' });
  });
});

describe('introspection allow-list', () => {
  test('service-introspector may introspect any client\'s token', async () => {
    const token = await issue(other, 'service.api');
    const res = await introspect(idp, introspector, token);
    assert.equal(res.body.active, true);
    assert.equal(res.body.client_id, 'other-client');
  });

  test('a client may introspect its own token', async () => {
    const token = await issue(other, 'service.api');
    const res = await introspect(idp, other, token);
    assert.equal(res.status, 200);
    assert.deepEqual(stableIntrospection(res.body), {
      active: true, aud: SERVICE_API, client_id: 'other-client', scope: 'service.api', iss: idp.issuer, token_type: 'Bearer', exp: 'number', iat: 'number',
    });
  });

  test('any other client learns nothing about another client\'s token: {"active":false}', async () => {
    const token = await issue(solutrix, 'service.api');
    const res = await introspect(idp, other, token);
    assert.equal(res.status, 200);
    assert.deepEqual(res.body, { active: false });
    assert.equal((await introspect(idp, introspector, token)).body.active, true, 'the token itself is active');
  });

  test('introspection with a wrong secret is 401 invalid_client', async () => {
    const token = await issue(solutrix, 'service.api');
    const res = await introspect(idp, { client_id: 'service-introspector', client_secret: 'wrong' }, token);
    assert.equal(res.status, 401);
    assert.deepEqual(res.body, { error: 'invalid_client', error_description: 'client authentication failed' });
  });

  test('introspection by an unknown client is 401 invalid_client', async () => {
    const token = await issue(solutrix, 'service.api');
    const res = await introspect(idp, { client_id: 'nobody', client_secret: 'x' }, token);
    assert.equal(res.status, 401);
    assert.equal(res.body.error, 'invalid_client');
  });

  test('unauthenticated introspection is 401 invalid_client', async () => {
    const token = await issue(solutrix, 'service.api');
    const res = await introspect(idp, undefined, token);
    // RFC 6749: "no client authentication included" is invalid_client (see idp/src/clientAuthentication.ts).
    assert.equal(res.status, 401);
    assert.equal(res.headers.get('www-authenticate'), 'Basic realm="idp"');
    assert.deepEqual(res.body, { error: 'invalid_client', error_description: 'client authentication is required (HTTP Basic)' });
  });

  test('unauthenticated introspection naming a client_id in the body is 401 invalid_client', async () => {
    const token = await issue(solutrix, 'service.api');
    const res = await oauth(idp, '/introspect', undefined, { token, client_id: 'service-introspector' });
    assert.equal(res.status, 401);
    assert.equal(res.body.error, 'invalid_client');
  });

  test('a garbage token introspects {"active":false}', async () => {
    for (const token of ['garbage', 'a'.repeat(43), 'eyJhbGciOiJub25lIn0.e30.']) {
      const res = await introspect(idp, introspector, token);
      assert.ok(res.status === 200 || res.status === 400, `${token}: ${res.status}`);
      if (res.status === 200) assert.deepEqual(res.body, { active: false }, token);
      else assert.equal(res.body.error, 'unsupported_token_type', 'only JWT-shaped tokens may be refused as unsupported');
    }
    assert.deepEqual((await introspect(idp, introspector, 'garbage')).body, { active: false });
  });
});

describe('revocation', () => {
  test('a client revokes its own token: 200, then the token introspects inactive', async () => {
    const token = await issue(solutrix, 'service.api');
    const res = await oauth(idp, '/revoke', solutrix, { token });
    assert.equal(res.status, 200);
    assert.equal(res.text, '');
    assert.deepEqual((await introspect(idp, introspector, token)).body, { active: false });
  });

  test('revoking an unknown token is 200 (RFC 7009 §2.2)', async () => {
    const res = await oauth(idp, '/revoke', solutrix, { token: 'unknown-token' });
    assert.equal(res.status, 200);
  });

  test('a client cannot revoke another client\'s token', async () => {
    const token = await issue(solutrix, 'service.api');
    const res = await oauth(idp, '/revoke', other, { token });
    assert.equal(res.status, 400);
    assert.equal((await introspect(idp, introspector, token)).body.active, true);
  });

  test('unauthenticated revocation is refused and the token stays active', async () => {
    const token = await issue(solutrix, 'service.api');
    const res = await oauth(idp, '/revoke', undefined, { token });
    assert.equal(res.status, 401);
    assert.equal(res.headers.get('www-authenticate'), 'Basic realm="idp"');
    assert.deepEqual(res.body, { error: 'invalid_client', error_description: 'client authentication is required (HTTP Basic)' });
    assert.equal((await introspect(idp, introspector, token)).body.active, true);
  });
});

describe('deleted clients', () => {
  test('a token whose client was deleted introspects {"active":false}, not 500', async () => {
    const doomed = await register('doomed', ['service.api']);
    const token = await issue(doomed, 'service.api');
    assert.equal((await introspect(idp, introspector, token)).body.active, true);
    assert.equal((await adminRequest(idp, 'DELETE', '/clients/doomed')).status, 204);
    const res = await introspect(idp, introspector, token);
    assert.equal(res.status, 200);
    assert.deepEqual(res.body, { active: false });
    const again = await oauth(idp, '/token', doomed, { grant_type: 'client_credentials' });
    assert.equal(again.status, 401);
    assert.equal(again.body.error, 'invalid_client');
  });

  test('a stored token of a client that no longer exists introspects {"active":false} (the policy, not only the store)', async () => {
    // An IDP of its own: the client row is removed from the file while that IDP is stopped (it holds
    // the file exclusively while it runs), as if the client had vanished while its tokens stayed behind.
    let own = await startIdp();
    try {
      const ownIntrospector = await registerClient(own, 'service-introspector');
      const ghost = await registerClient(own, 'ghost', ['service.api']);
      const token = await clientCredentialsToken(own, ghost, 'service.api');
      assert.equal((await introspect(own, ownIntrospector, token)).body.active, true);
      await own.stop();
      const db = new Database(join(own.dataDir, 'idp.sqlite'));
      try {
        assert.equal(db.prepare(`DELETE FROM oidc WHERE model = 'Client' AND id = 'ghost'`).run().changes, 1);
        assert.deepEqual(db.prepare(`SELECT count(*) AS n FROM oidc WHERE client_id = 'ghost'`).get(), { n: 1 }, 'its token row is still there');
      } finally {
        db.close();
      }
      own = await startIdp({ dataDir: own.dataDir, env: own.env, port: own.port, issuer: own.issuer });
      const res = await introspect(own, ownIntrospector, token);
      assert.equal(res.status, 200);
      assert.deepEqual(res.body, { active: false });
    } finally {
      await own.stop();
    }
  });
});

test('the IDP output never contains a client secret or an access token issued in this file', async () => {
  const output = idp.output();
  assert.ok(output.includes('"path":"/oauth/introspect"'), 'requests were logged');
  assert.ok(secrets.length >= 5 && tokens.length >= 10);
  for (const secret of secrets) assert.equal(output.includes(secret), false, 'a client secret leaked into the output');
  for (const token of tokens) assert.equal(output.includes(token), false, 'an access token leaked into the output');
  assert.equal(output.includes(idp.adminToken), false, 'the admin token leaked into the output');
  const res = await call(`${idp.origin}/healthz`);
  assert.equal(res.status, 200, 'and the IDP is still up');
});
