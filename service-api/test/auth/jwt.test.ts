import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { afterEach, before, beforeEach, describe, it } from 'node:test';
import { InvalidToken, TemporarilyUnavailable } from '../../src/auth/errors.ts';
import { createJwtVerifier, type JwtVerifierOptions } from '../../src/auth/jwt.ts';
import { AUDIENCE, JwksServer, machineClaims, sign, signingKey, userClaims, type Claims, type SigningKey } from '../support/jwks.ts';
import { STUB_ISSUER } from '../support/introspectionStub.ts';

const ISSUER = STUB_ISSUER;
const nowSeconds = () => Math.floor(Date.now() / 1000);

const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

let idpKey: SigningKey;
let foreignKey: SigningKey;
let jwks: JwksServer;

// Tests of the signature and JWKS rules check every token anew; the principal cache has its own tests.
function verifier(overrides: Partial<JwtVerifierOptions> = {}) {
  return createJwtVerifier({ jwksUrl: jwks.url, issuer: ISSUER, audience: AUDIENCE, principalCacheSeconds: 0, ...overrides });
}

const isInvalidToken = (description: string) => (err: unknown) => {
  assert.ok(err instanceof InvalidToken, `expected InvalidToken, got ${String(err)}`);
  assert.equal(err.status, 401);
  assert.equal(err.error, 'invalid_token');
  assert.equal(err.error_description, description);
  return true;
};
const isUnavailable = (err: unknown) => {
  assert.ok(err instanceof TemporarilyUnavailable, `expected TemporarilyUnavailable, got ${String(err)}`);
  assert.deepEqual(err.headers(), { 'Retry-After': '5' });
  return true;
};

before(async () => {
  [idpKey, foreignKey] = await Promise.all([signingKey('idp-key-1'), signingKey('foreign-key')]);
});
beforeEach(async () => {
  jwks = await new JwksServer().start();
  jwks.keys = [idpKey.publicJwk];
});
afterEach(async () => {
  await jwks.stop();
});

describe('createJwtVerifier', () => {
  it('returns a user principal for an at+jwt of an end user', async () => {
    const claims = userClaims();
    assert.deepEqual(await verifier().verify(await sign(idpKey, claims)), {
      subject: 'alice-sub',
      clientId: 'solutrix-web',
      scopes: ['openid', 'service.api'],
      kind: 'user',
      expiresAt: claims.exp,
    });
    await jwks.stop();
  });

  it('returns a machine principal without subject when sub equals client_id (RFC 9068 client_credentials)', async () => {
    const claims = machineClaims();
    const v = verifier();
    assert.deepEqual(await v.verify(await sign(idpKey, claims)), {
      clientId: 'solutrix-api',
      scopes: ['service.api'],
      kind: 'machine',
      expiresAt: claims.exp,
    });
    const { sub: _sub, scope: _scope, ...noSub } = claims;
    assert.deepEqual(await v.verify(await sign(idpKey, noSub)), { clientId: 'solutrix-api', scopes: [], kind: 'machine', expiresAt: claims.exp });
    assert.equal(jwks.requests, 1, 'keys are fetched once and cached');
    assert.deepEqual(v.stats, { verifications: 2, cacheHits: 0, jwksFetches: 1, failures: 0 });
    await jwks.stop();
  });

  it('accepts PS256 and ES256 keys of the JWKS', async () => {
    const [ps, es] = await Promise.all([signingKey('ps-key', 'PS256'), signingKey('ec-key', 'ES256')]);
    jwks.keys = [idpKey.publicJwk, ps.publicJwk, es.publicJwk];
    const v = verifier();
    assert.equal((await v.verify(await sign(ps, userClaims()))).kind, 'user');
    assert.equal((await v.verify(await sign(es, userClaims()))).kind, 'user');
    await jwks.stop();
  });

  describe('rejects with 401 invalid_token', () => {
    const cases: [string, () => Promise<string>, string][] = [
      ['a JWT signed by a foreign key under the IDP key id', () => sign(foreignKey, userClaims(), { kid: idpKey.kid }), 'the token signature is not valid'],
      ['a JWT signed by a foreign key with its own kid', () => sign(foreignKey, userClaims()), 'the token signature is not valid'],
      ['a wrong aud', () => sign(idpKey, { ...userClaims(), aud: 'http://localhost:9999' }), 'the token is not meant for this service'],
      ['an aud array without this service', () => sign(idpKey, { ...userClaims(), aud: ['http://localhost:4002', 'http://localhost:4003'] }), 'the token is not meant for this service'],
      ['no aud at all', () => sign(idpKey, { ...userClaims(), aud: undefined }), 'the token is not meant for this service'],
      ['a wrong iss', () => sign(idpKey, { ...userClaims(), iss: 'http://evil.example/oauth' }), 'the token was issued by another issuer'],
      ['an expired token', () => sign(idpKey, { ...userClaims(), exp: nowSeconds() - 1 }), 'the token has expired'],
      ['nbf in the future', () => sign(idpKey, { ...userClaims(), nbf: nowSeconds() + 120 }), 'the token is not yet valid'],
      ['no exp', () => sign(idpKey, { ...userClaims(), exp: undefined }), 'the token has no expiry'],
      ['no client_id', () => sign(idpKey, { ...userClaims(), client_id: undefined }), 'the token has no client'],
      ['typ JWT instead of at+jwt', () => sign(idpKey, userClaims(), { typ: 'JWT' }), 'the token is not an at+jwt access token'],
      [
        'alg none (unsigned)',
        async () => `${b64({ alg: 'none', typ: 'at+jwt', kid: idpKey.kid })}.${b64(userClaims())}.`,
        'the token is signed with an algorithm that is not allowed',
      ],
      [
        'HS256 with the public key (PEM) as the HMAC secret',
        async () => {
          const input = `${b64({ alg: 'HS256', typ: 'at+jwt', kid: idpKey.kid })}.${b64(userClaims())}`;
          return `${input}.${createHmac('sha256', idpKey.publicPem).update(input).digest('base64url')}`;
        },
        'the token is signed with an algorithm that is not allowed',
      ],
      ['a garbled header', async () => `bm90IGpzb24.${b64(userClaims())}.c2ln`, 'the token is malformed'],
    ];
    for (const [name, make, description] of cases) {
      it(name, async () => {
        await assert.rejects(verifier().verify(await make()), isInvalidToken(description));
      });
    }

    it('an opaque token, without fetching the JWKS', async () => {
      const v = verifier();
      await assert.rejects(v.verify('opaque-token-without-dots'), isInvalidToken('the token is not a JWT'));
      await assert.rejects(v.verify('a.b.c.d'), isInvalidToken('the token is not a JWT'));
      await assert.rejects(v.verify(`${'a'.repeat(4097)}`), isInvalidToken('the token is too long'));
      assert.equal(jwks.requests, 0);
    });
  });

  it('accepts an aud array that includes this service', async () => {
    const principal = await verifier().verify(await sign(idpKey, { ...userClaims(), aud: ['http://localhost:4002', AUDIENCE] }));
    assert.equal(principal.subject, 'alice-sub');
  });

  it('accepts a token without any aud only with acceptTokensWithoutAudience, still checking every other rule', async () => {
    const migrating = verifier({ acceptTokensWithoutAudience: true });
    const { aud: _aud, ...noAud } = userClaims();
    assert.equal((await migrating.verify(await sign(idpKey, noAud))).subject, 'alice-sub');
    await assert.rejects(migrating.verify(await sign(idpKey, { ...noAud, exp: nowSeconds() - 1 })), isInvalidToken('the token has expired'));
    await assert.rejects(migrating.verify(await sign(foreignKey, noAud)), isInvalidToken('the token signature is not valid'));
    await assert.rejects(migrating.verify(await sign(idpKey, { ...noAud, iss: 'http://evil.example/oauth' })), isInvalidToken('the token was issued by another issuer'));
    await assert.rejects(migrating.verify(await sign(idpKey, { ...noAud, client_id: undefined })), isInvalidToken('the token has no client'));
    await assert.rejects(migrating.verify(await sign(idpKey, { ...userClaims(), aud: 'http://localhost:4002' })), isInvalidToken('the token is not meant for this service'));
    await assert.rejects(migrating.verify(await sign(idpKey, { ...userClaims(), aud: [] })), isInvalidToken('the token is not meant for this service'));
  });

  it('refuses to be configured with none or HS* algorithms', () => {
    assert.throws(() => verifier({ algorithms: ['RS256', 'HS256'] }), /algorithms must not include HS256/);
    assert.throws(() => verifier({ algorithms: ['none'] }), /algorithms must not include none/);
  });

  it('checks exp and nbf against the injected clock', async () => {
    const claims: Claims = { ...userClaims(), nbf: nowSeconds() + 60 };
    const token = await sign(idpKey, claims);
    const later = verifier({ now: () => (nowSeconds() + 61) * 1000 });
    assert.equal((await later.verify(token)).kind, 'user');
    const afterExp = verifier({ now: () => ((claims.exp as number) + 1) * 1000 });
    await assert.rejects(afterExp.verify(token), isInvalidToken('the token has expired'));
  });

  describe('the principal cache', () => {
    it('reuses a verified principal without another signature check, for at most principalCacheSeconds', async () => {
      let now = Date.now();
      const v = verifier({ principalCacheSeconds: 30, now: () => now });
      const token = await sign(idpKey, userClaims());
      const first = await v.verify(token);
      assert.equal(await v.verify(token), first);
      assert.deepEqual(v.stats, { verifications: 1, cacheHits: 1, jwksFetches: 1, failures: 0 });
      now += 30_001;
      assert.deepEqual(await v.verify(token), first);
      assert.equal(v.stats.verifications, 2, 'checked again once the 30 s bound passed');
    });

    it('never serves a principal past the token exp', async () => {
      let now = Date.now();
      const claims: Claims = { ...userClaims(), exp: nowSeconds() + 10 };
      const token = await sign(idpKey, claims);
      const v = verifier({ principalCacheSeconds: 30, now: () => now });
      await v.verify(token);
      now = (claims.exp as number) * 1000 + 1;
      await assert.rejects(v.verify(token), isInvalidToken('the token has expired'));
    });

    it('caches no failure: a rejected token is checked again each time', async () => {
      const v = verifier({ principalCacheSeconds: 30 });
      const token = await sign(foreignKey, userClaims());
      await assert.rejects(v.verify(token), isInvalidToken('the token signature is not valid'));
      await assert.rejects(v.verify(token), isInvalidToken('the token signature is not valid'));
      assert.equal(v.stats.verifications, 2);
      assert.equal(v.stats.cacheHits, 0);
    });
  });

  describe('the JWKS cache', () => {
    it('keeps verifying with cached keys while the JWKS endpoint is down', async () => {
      const v = verifier();
      await v.verify(await sign(idpKey, userClaims()));
      await jwks.stop();
      assert.equal((await v.verify(await sign(idpKey, machineClaims()))).clientId, 'solutrix-api');
      assert.equal(v.stats.jwksFetches, 1);
    });

    it('keeps verifying with keys older than cacheMaxAge when the refetch fails', async () => {
      const v = verifier({ cacheMaxAgeSeconds: 0 });
      await v.verify(await sign(idpKey, userClaims()));
      await jwks.stop();
      assert.equal((await v.verify(await sign(idpKey, userClaims()))).kind, 'user');
      assert.equal(v.stats.jwksFetches, 2, 'it tried to refresh');
      assert.equal(v.stats.failures, 1);
    });

    it('answers 503 when the JWKS is unreachable and no cached key matches', async () => {
      await jwks.stop();
      await assert.rejects(verifier().verify(await sign(idpKey, userClaims())), isUnavailable);

      const restarted = await new JwksServer().start();
      restarted.keys = [idpKey.publicJwk];
      const v = verifier({ jwksUrl: restarted.url, cooldownSeconds: 0 });
      await v.verify(await sign(idpKey, userClaims()));
      await restarted.stop();
      await assert.rejects(v.verify(await sign(foreignKey, userClaims())), isUnavailable, 'unknown kid, refetch fails');
    });

    it('answers 503 when the JWKS endpoint answers 500 or something that is not a JWKS', async () => {
      jwks.status = 500;
      await assert.rejects(verifier().verify(await sign(idpKey, userClaims())), isUnavailable);
      jwks.status = 200;
      jwks.body = '<html>proxy error</html>';
      await assert.rejects(verifier().verify(await sign(idpKey, userClaims())), isUnavailable);
      jwks.body = JSON.stringify({ keys: 'none' });
      await assert.rejects(verifier().verify(await sign(idpKey, userClaims())), isUnavailable);
    });

    it('refetches once on an unknown kid, and the cooldown limits further refetches', async (t) => {
      // jose times its cooldown with Date.now(), so the test moves a mocked Date instead of sleeping.
      t.mock.timers.enable({ apis: ['Date'], now: Date.now() });
      const v = verifier({ cooldownSeconds: 30 });
      await v.verify(await sign(idpKey, userClaims()));
      assert.equal(jwks.requests, 1);

      // Published after our fetch: a rotation. Within the cooldown its kid costs no request.
      const next = await signingKey('idp-key-2');
      jwks.keys = [idpKey.publicJwk, next.publicJwk];
      t.mock.timers.tick(29_999);
      await assert.rejects(v.verify(await sign(next, userClaims())), isInvalidToken('the token signature is not valid'));
      assert.equal(jwks.requests, 1);

      // Past the cooldown, the new kid triggers exactly one refetch, however many requests carry it at once.
      t.mock.timers.tick(1);
      const tokens = await Promise.all(Array.from({ length: 20 }, () => sign(next, userClaims())));
      const principals = await Promise.all(tokens.map((token) => v.verify(token)));
      assert.ok(principals.every((p) => p.subject === 'alice-sub'));
      assert.equal(jwks.requests, 2);

      // Within the next cooldown an unknown kid costs no request; once it has passed, one.
      for (let i = 0; i < 5; i += 1) {
        await assert.rejects(v.verify(await sign(foreignKey, userClaims())), isInvalidToken('the token signature is not valid'));
      }
      assert.equal(jwks.requests, 2);
      t.mock.timers.tick(30_000);
      await assert.rejects(v.verify(await sign(foreignKey, userClaims())), isInvalidToken('the token signature is not valid'));
      assert.equal(jwks.requests, 3);
      assert.equal(v.stats.jwksFetches, 3);
    });
  });
});
