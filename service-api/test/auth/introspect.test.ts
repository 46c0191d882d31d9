import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, beforeEach, describe, it } from 'node:test';
import { InvalidToken, TemporarilyUnavailable } from '../../src/auth/errors.ts';
import { createIntrospectionVerifier, type IntrospectionVerifierOptions } from '../../src/auth/introspect.ts';
import {
  closedPortUrl,
  frozenClock,
  IntrospectionStub,
  STUB_AUDIENCE,
  STUB_CLIENT_ID,
  STUB_CLIENT_SECRET,
  STUB_ISSUER,
} from '../support/introspectionStub.ts';

const stub = new IntrospectionStub();
let clock = frozenClock();
const nowSeconds = () => Math.floor(clock.now() / 1000);

function verifier(overrides: Partial<IntrospectionVerifierOptions> = {}) {
  return createIntrospectionVerifier({
    url: stub.url,
    clientId: STUB_CLIENT_ID,
    clientSecret: STUB_CLIENT_SECRET,
    issuer: STUB_ISSUER,
    audience: STUB_AUDIENCE,
    now: clock.now,
    ...overrides,
  });
}

const isInvalidToken = (description: string) => (err: unknown) => {
  assert.ok(err instanceof InvalidToken);
  assert.equal(err.error_description, description);
  return true;
};
const isUnavailable = (err: unknown) => {
  assert.ok(err instanceof TemporarilyUnavailable);
  assert.equal(err.status, 503);
  assert.deepEqual(err.headers(), { 'Retry-After': '5' });
  assert.deepEqual(err.toJSON(), { error: 'temporarily_unavailable', error_description: 'the authorization server is unavailable' });
  return true;
};

before(async () => {
  await stub.start();
});
after(async () => {
  await stub.stop();
});
beforeEach(() => {
  clock = frozenClock();
  stub.clientSecret = STUB_CLIENT_SECRET;
  stub.calls.length = 0;
  stub.tokens.clear();
  stub.mode = 'normal';
  stub.gate = undefined;
  stub.tokens.set('user-token', { clientId: 'web', sub: 'alice', scope: 'openid service.api', exp: nowSeconds() + 600 });
  stub.tokens.set('machine-token', { clientId: 'solutrix-api', scope: 'service.api', exp: nowSeconds() + 600 });
});

describe('createIntrospectionVerifier', () => {
  it('introspects with HTTP Basic (form-encoded credentials) and a form-encoded token', async () => {
    const principal = await verifier().verify('user-token');
    assert.deepEqual(principal, {
      subject: 'alice',
      clientId: 'web',
      scopes: ['openid', 'service.api'],
      kind: 'user',
      expiresAt: nowSeconds() + 600,
    });
    assert.equal(stub.calls.length, 1);
    const call = stub.calls[0]!;
    const expectedBasic = Buffer.from(`${STUB_CLIENT_ID}:${encodeURIComponent(STUB_CLIENT_SECRET)}`).toString('base64');
    assert.equal(call.authorization, `Basic ${expectedBasic}`);
    assert.equal(call.contentType, 'application/x-www-form-urlencoded');
    assert.deepEqual(Object.fromEntries(call.form), { token: 'user-token', token_type_hint: 'access_token' });
  });

  it('returns a machine principal for a token without sub', async () => {
    assert.deepEqual(await verifier().verify('machine-token'), {
      clientId: 'solutrix-api',
      scopes: ['service.api'],
      kind: 'machine',
      expiresAt: nowSeconds() + 600,
    });
  });

  it('caches an active token no longer than its exp', async () => {
    stub.tokens.set('short-lived', { clientId: 'web', exp: nowSeconds() + 10 });
    const v = verifier();
    await v.verify('short-lived');
    clock.advance(9_999);
    await v.verify('short-lived');
    assert.equal(stub.calls.length, 1);
    assert.equal(v.stats.cacheHits, 1);
    clock.advance(1);
    await assert.rejects(v.verify('short-lived'), isInvalidToken('the token has expired'));
    assert.equal(stub.calls.length, 2);
  });

  it('caps the cache lifetime at cacheMaxTtlSeconds (default 30 s)', async () => {
    const v = verifier();
    await v.verify('user-token');
    clock.advance(29_999);
    await v.verify('user-token');
    assert.equal(stub.calls.length, 1);
    clock.advance(1_001); // 31 s after the first introspection
    await v.verify('user-token');
    assert.equal(stub.calls.length, 2);
    assert.deepEqual(v.stats, { introspections: 2, cacheHits: 1, coalesced: 0, failures: 0, evictions: 0 });
  });

  it('caches an inactive result for negativeTtlSeconds (default 5 s)', async () => {
    const v = verifier();
    await assert.rejects(v.verify('unknown-token'), isInvalidToken('the token is not active'));
    clock.advance(4_999);
    await assert.rejects(v.verify('unknown-token'), isInvalidToken('the token is not active'));
    assert.equal(stub.calls.length, 1);
    clock.advance(1);
    await assert.rejects(v.verify('unknown-token'), isInvalidToken('the token is not active'));
    assert.equal(stub.calls.length, 2);
  });

  it('shares one introspection among 100 concurrent callers of one uncached token', async () => {
    let release!: () => void;
    stub.gate = new Promise((resolve) => (release = resolve));
    const v = verifier();
    const pending = Array.from({ length: 100 }, () => v.verify('machine-token'));
    await stub.waitForCalls(1);
    release();
    const principals = await Promise.all(pending);
    assert.equal(stub.calls.length, 1);
    assert.equal(new Set(principals).size, 1);
    assert.deepEqual(v.stats, { introspections: 1, cacheHits: 0, coalesced: 99, failures: 0, evictions: 0 });
  });

  it('shares one failing introspection among concurrent callers, then retries', async () => {
    stub.mode = 'error500';
    const v = verifier();
    const results = await Promise.allSettled(Array.from({ length: 10 }, () => v.verify('machine-token')));
    assert.equal(stub.calls.length, 1);
    for (const result of results) {
      assert.equal(result.status, 'rejected');
      assert.ok(result.reason instanceof TemporarilyUnavailable);
    }
    stub.mode = 'normal';
    await v.verify('machine-token');
    assert.equal(stub.calls.length, 2);
  });

  it('rejects an active token from another issuer', async () => {
    stub.tokens.set('foreign', { clientId: 'web', exp: nowSeconds() + 600, iss: 'http://evil.test/oauth' });
    await assert.rejects(verifier().verify('foreign'), isInvalidToken('the token was issued by another issuer'));
  });

  describe('the audience', () => {
    it('accepts an aud that is this service, alone or in an array', async () => {
      stub.tokens.set('aud-string', { clientId: 'web', exp: nowSeconds() + 600, aud: STUB_AUDIENCE });
      stub.tokens.set('aud-array', { clientId: 'web', exp: nowSeconds() + 600, aud: ['http://localhost:4002', STUB_AUDIENCE] });
      assert.equal((await verifier().verify('aud-string')).clientId, 'web');
      assert.equal((await verifier().verify('aud-array')).clientId, 'web');
    });

    it('rejects a token meant for another service: 401 "the token is not meant for this service"', async () => {
      const cases: [string, string | string[]][] = [
        ['other-service', 'http://localhost:4002'],
        ['other-services', ['http://localhost:4002', 'http://localhost:4003']],
        ['empty-array', []],
        ['trailing-slash', `${STUB_AUDIENCE}/`],
      ];
      for (const [token, aud] of cases) stub.tokens.set(token, { clientId: 'web', exp: nowSeconds() + 600, aud });
      const v = verifier();
      for (const [token] of cases) await assert.rejects(v.verify(token), isInvalidToken('the token is not meant for this service'), token);
      // Cached like any rejection: a second try costs no introspection.
      await assert.rejects(v.verify('other-service'), isInvalidToken('the token is not meant for this service'));
      assert.equal(stub.calls.length, cases.length);
    });

    it('rejects a token without any aud unless acceptTokensWithoutAudience', async () => {
      stub.tokens.set('no-aud', { clientId: 'web', exp: nowSeconds() + 600, aud: null });
      await assert.rejects(verifier().verify('no-aud'), isInvalidToken('the token is not meant for this service'));
      const migrating = verifier({ acceptTokensWithoutAudience: true });
      assert.deepEqual(await migrating.verify('no-aud'), { clientId: 'web', scopes: [], kind: 'machine', expiresAt: nowSeconds() + 600 });
      stub.tokens.set('still-foreign', { clientId: 'web', exp: nowSeconds() + 600, aud: 'http://localhost:4002' });
      await assert.rejects(migrating.verify('still-foreign'), isInvalidToken('the token is not meant for this service'));
    });
  });

  it('rejects an active token whose exp has passed by our clock', async () => {
    stub.tokens.set('stale', { clientId: 'web', exp: nowSeconds() - 1 });
    await assert.rejects(verifier().verify('stale'), isInvalidToken('the token has expired'));
  });

  it('rejects an active token that is not a Bearer access token (oidc-provider refresh tokens have no token_type)', async () => {
    stub.tokens.set('refresh', { clientId: 'web', sub: 'alice', exp: nowSeconds() + 600, tokenType: '' });
    stub.tokens.set('dpop', { clientId: 'web', sub: 'alice', exp: nowSeconds() + 600, tokenType: 'DPoP' });
    await assert.rejects(verifier().verify('refresh'), isInvalidToken('the token is not a bearer access token'));
    await assert.rejects(verifier().verify('dpop'), isInvalidToken('the token is not a bearer access token'));
  });

  it('maps 400 unsupported_token_type (JWT-shaped token) to invalid_token and caches it briefly', async () => {
    const v = verifier();
    await assert.rejects(v.verify('aaa.bbb.ccc'), isInvalidToken('the token is not valid'));
    await assert.rejects(v.verify('aaa.bbb.ccc'), isInvalidToken('the token is not valid'));
    assert.equal(stub.calls.length, 1);
  });

  for (const [name, mode] of [
    ['the IDP times out', 'hang'],
    ['the IDP answers 500', 'error500'],
    ['the IDP answers non-JSON', 'nonJson'],
  ] as const) {
    it(`is temporarily unavailable, and caches nothing, when ${name}`, async () => {
      stub.mode = mode;
      // Short only where the timeout is the point: under load a 100 ms bound also cuts off answers.
      const v = verifier({ timeoutMs: mode === 'hang' ? 100 : 5000 });
      await assert.rejects(v.verify('user-token'), isUnavailable);
      await assert.rejects(v.verify('user-token'), isUnavailable);
      assert.equal(stub.calls.length, 2);
      assert.deepEqual(v.cacheKeys(), []);
      assert.equal(v.stats.failures, 2);
    });
  }

  it('is temporarily unavailable when the IDP refuses connections', async () => {
    const v = verifier({ url: await closedPortUrl() });
    await assert.rejects(v.verify('user-token'), isUnavailable);
    await assert.rejects(v.verify('user-token'), isUnavailable);
    assert.deepEqual(v.stats, { introspections: 2, cacheHits: 0, coalesced: 0, failures: 2, evictions: 0 });
  });

  it('is temporarily unavailable when our own client credentials are rejected (401 invalid_client)', async () => {
    const v = verifier({ clientSecret: 'wrong' });
    await assert.rejects(v.verify('user-token'), (err: unknown) => {
      isUnavailable(err);
      assert.match(String((err as Error).cause), /introspection answered 401 invalid_client/);
      return true;
    });
    await assert.rejects(v.verify('user-token'), isUnavailable);
    assert.equal(stub.calls.length, 2);
  });

  it('reports a refusal of our client credentials once per change, with its own error code', async () => {
    const changes: string[] = [];
    const v = verifier({ clientSecret: 'rotated-away', onCredentialsChange: (state) => changes.push(state) });
    assert.equal(v.credentials, 'unknown');
    for (const token of ['user-token', 'machine-token', 'user-token']) {
      await assert.rejects(v.verify(token), (err: unknown) => {
        isUnavailable(err);
        assert.equal((err as TemporarilyUnavailable).code, 'ERR_CLIENT_CREDENTIALS_REJECTED');
        return true;
      });
    }
    assert.equal(v.credentials, 'rejected');
    assert.deepEqual(changes, ['rejected']);

    // An outage says nothing about our credentials.
    stub.mode = 'error500';
    await assert.rejects(v.verify('user-token'), (err: unknown) => (err as TemporarilyUnavailable).code === 'ERR_AUTHORIZATION_SERVER_UNAVAILABLE');
    assert.equal(v.credentials, 'rejected');

    // The IDP takes our secret again (say, a rotation was rolled back): one change back.
    stub.mode = 'normal';
    stub.clientSecret = 'rotated-away';
    assert.equal((await v.verify('user-token')).subject, 'alice');
    await assert.rejects(v.verify('unknown-token'), isInvalidToken('the token is not active'));
    assert.equal(v.credentials, 'accepted');
    assert.deepEqual(changes, ['rejected', 'accepted']);
  });

  it('counts an answer to a JWT-shaped token as an acceptance of our credentials', async () => {
    const changes: string[] = [];
    const v = verifier({ onCredentialsChange: (state) => changes.push(state) });
    await assert.rejects(v.verify('aaa.bbb.ccc'), isInvalidToken('the token is not valid'));
    assert.equal(v.credentials, 'accepted');
    assert.deepEqual(changes, ['accepted']);
  });

  it('keeps serving a cached active token during an outage, until the cache entry expires', async () => {
    const v = verifier();
    const principal = await v.verify('user-token');
    stub.mode = 'error500';
    clock.advance(29_000);
    assert.deepEqual(await v.verify('user-token'), principal);
    assert.equal(stub.calls.length, 1);
    clock.advance(1_000);
    await assert.rejects(v.verify('user-token'), isUnavailable);
    assert.equal(stub.calls.length, 2);
  });

  it('rejects a 10 kB token without calling the IDP', async () => {
    const v = verifier();
    await assert.rejects(v.verify('a'.repeat(10_240)), isInvalidToken('the token is too long'));
    assert.equal(stub.calls.length, 0);
  });

  it('rejects a token with characters outside b64token without calling the IDP', async () => {
    const v = verifier();
    await assert.rejects(v.verify('abc"def'), isInvalidToken('the token is malformed'));
    await assert.rejects(v.verify(''), isInvalidToken('the token is malformed'));
    assert.equal(stub.calls.length, 0);
  });

  it('keys the cache by the SHA-256 of the token, never the token', async () => {
    const v = verifier();
    await v.verify('user-token');
    await assert.rejects(v.verify('unknown-token'));
    const digest = (t: string) => createHash('sha256').update(t).digest('base64url');
    assert.deepEqual(v.cacheKeys().sort(), [digest('user-token'), digest('unknown-token')].sort());
    assert.ok(!v.cacheKeys().includes('user-token'));
  });

  it('evicts the least recently used entry beyond cacheMaxEntries', async () => {
    const v = verifier({ cacheMaxEntries: 1 });
    await v.verify('user-token');
    await v.verify('machine-token');
    await v.verify('user-token');
    assert.equal(stub.calls.length, 3);
    assert.equal(v.cacheKeys().length, 1);
    // Each new token pushed the other out: counted, for the metrics.
    assert.equal(v.stats.evictions, 2);
  });
});
