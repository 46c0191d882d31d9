import assert from 'node:assert/strict';
import { after, afterEach, before, beforeEach, describe, it } from 'node:test';
import { pino } from 'pino';
import { createApp, createVerifier } from '../src/app.ts';
import { loadConfig } from '../src/config.ts';
import { REPORTS } from '../src/routes/reports.ts';
import { stubEnv, useTestApp } from './support/app.ts';
import { rawGet, serve } from './support/http.ts';
import { closedPortUrl, IntrospectionStub, STUB_CLIENT_SECRET, STUB_ISSUER } from './support/introspectionStub.ts';
import { JwksServer, machineClaims, sign, signingKey, userClaims, type SigningKey } from './support/jwks.ts';

// The wiring of createApp: authentication in front of /v1, the IDP's failures, the verifier by
// TOKEN_VERIFICATION. Each route, the error handler and the request log have their own test file.

describe('service-api app', () => {
  const app = useTestApp();

  it('every answer (health, 401, 404) carries the shared security headers', async () => {
    for (const path of ['/healthz', '/v1/whoami', '/nowhere']) {
      const res = await fetch(`${app.baseUrl}${path}`);
      assert.deepEqual(
        {
          csp: res.headers.get('content-security-policy'),
          frame: res.headers.get('x-frame-options'),
          referrer: res.headers.get('referrer-policy'),
          sniff: res.headers.get('x-content-type-options'),
        },
        { csp: "default-src 'none'; frame-ancestors 'none'; base-uri 'none'", frame: 'DENY', referrer: 'no-referrer', sniff: 'nosniff' },
        path,
      );
      await res.arrayBuffer();
    }
  });

  it('answers 401 with the realm challenge when the Authorization header is missing', async () => {
    const res = await app.get('/v1/whoami');
    assert.equal(res.status, 401);
    assert.equal(res.headers.get('www-authenticate'), 'Bearer realm="service-api"');
    assert.deepEqual(res.body, { error: 'unauthorized', error_description: 'a bearer token is required' });
  });

  it('answers 400 invalid_request to a Basic header', async () => {
    const res = await app.get('/v1/whoami', { authorization: 'Basic abc' });
    assert.equal(res.status, 400);
    assert.equal(
      res.headers.get('www-authenticate'),
      'Bearer realm="service-api", error="invalid_request", error_description="the Authorization header must be the Bearer scheme and one b64token"',
    );
  });

  it('answers 400 invalid_request to repeated Authorization headers', async () => {
    const t = app.token({ scope: 'service.api' });
    const res = await rawGet(`${app.baseUrl}/v1/whoami`, { authorization: [`Bearer ${t}`, `Bearer ${t}`] });
    assert.equal(res.status, 400);
    assert.deepEqual(JSON.parse(res.body), { error: 'invalid_request', error_description: 'repeated Authorization header' });
    assert.equal(app.stub.calls.length, 0);
  });

  it('answers 401 invalid_token with WWW-Authenticate to an inactive token', async () => {
    const res = await app.get('/v1/whoami', { authorization: 'Bearer not-issued-by-anyone' });
    assert.equal(res.status, 401);
    assert.equal(res.headers.get('www-authenticate'), 'Bearer realm="service-api", error="invalid_token", error_description="the token is not active"');
    assert.deepEqual(res.body, { error: 'invalid_token', error_description: 'the token is not active' });
  });

  it('answers 401 invalid_token to a JWT-shaped token the IDP will not introspect', async () => {
    const res = await app.get('/v1/whoami', { authorization: 'Bearer eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhIn0.c2ln' });
    assert.equal(res.status, 401);
    assert.deepEqual(res.body, { error: 'invalid_token', error_description: 'the token is not valid' });
  });

  it('rejects a 10 kB token with 401 and no IDP call', async () => {
    const res = await app.get('/v1/whoami', { authorization: `Bearer ${'a'.repeat(10_240)}` });
    assert.equal(res.status, 401);
    assert.equal(res.headers.get('www-authenticate'), 'Bearer realm="service-api", error="invalid_token", error_description="the token is too long"');
    assert.deepEqual(res.body, { error: 'invalid_token', error_description: 'the token is too long' });
    assert.equal(app.stub.calls.length, 0);
  });

  it('shares one introspection among 100 concurrent requests with one uncached token', async () => {
    const t = app.token({ scope: 'service.api' });
    let release!: () => void;
    app.stub.gate = new Promise((resolve) => (release = resolve));
    const coalescedBefore = app.verifier.stats.coalesced;
    const responses = Array.from({ length: 100 }, () => app.get('/v1/whoami', { authorization: `Bearer ${t}` }));
    await app.stub.waitForCalls(1);
    // Hold the IDP's answer until every request has reached the verifier.
    for (let turn = 0; app.verifier.stats.coalesced - coalescedBefore < 99; turn += 1) {
      assert.ok(turn < 100_000, 'every request reached the verifier');
      await new Promise((resolve) => setImmediate(resolve));
    }
    release();
    const results = await Promise.all(responses);
    assert.deepEqual(new Set(results.map((r) => r.status)), new Set([200]));
    assert.equal(app.stub.calls.length, 1);
  });

  for (const [name, mode] of [
    ['answers 500', 'error500'],
    ['times out', 'hang'],
  ] as const) {
    it(`answers 503 with Retry-After when the IDP ${name}, and retries on the next request`, async () => {
      app.stub.mode = mode;
      const served = await serve(createApp(loadConfig(stubEnv(app.stub, { INTROSPECTION_TIMEOUT_MS: '1000' })), { log: app.log, now: app.clock.now }));
      const t = app.token({ scope: 'service.api' });
      for (let attempt = 1; attempt <= 2; attempt++) {
        const fetched = await fetch(`${served.baseUrl}/v1/whoami`, { headers: { authorization: `Bearer ${t}` } });
        const res = { status: fetched.status, headers: fetched.headers, body: (await fetched.json()) as unknown };
        assert.equal(res.status, 503);
        assert.equal(res.headers.get('retry-after'), '5');
        assert.equal(res.headers.get('www-authenticate'), null);
        assert.deepEqual(res.body, { error: 'temporarily_unavailable', error_description: 'the authorization server is unavailable' });
        assert.equal(app.stub.calls.length, attempt);
      }
      await served.stop();
    });
  }

  it('answers 503 when the IDP refuses connections or rejects our client credentials', async () => {
    for (const env of [{ IDP_INTROSPECTION_URL: await closedPortUrl() }, { INTROSPECTION_CLIENT_SECRET: "wrong" }] as Record<string, string>[]) {
      const cfg = loadConfig(stubEnv(app.stub, env));
      const served = await serve(createApp(cfg, { log: app.log, now: app.clock.now }));
      try {
        const res = await fetch(`${served.baseUrl}/v1/whoami`, { headers: { authorization: `Bearer ${app.token()}` } });
        assert.equal(res.status, 503);
        assert.equal(res.headers.get('retry-after'), '5');
        assert.deepEqual(await res.json(), { error: 'temporarily_unavailable', error_description: 'the authorization server is unavailable' });
      } finally {
        await served.stop();
      }
    }
  });

  it('keeps serving a cached token during an IDP outage', async () => {
    const t = app.token({ scope: 'service.api' });
    assert.equal((await app.get('/v1/reports', { authorization: `Bearer ${t}` })).status, 200);
    app.stub.mode = 'error500';
    const res = await app.get('/v1/reports', { authorization: `Bearer ${t}` });
    assert.equal(res.status, 200);
    assert.deepEqual(res.body, { reports: REPORTS });
    assert.equal(app.stub.calls.length, 1);
  });
});

describe('the app by TOKEN_VERIFICATION', () => {
  const ISSUER = STUB_ISSUER;
  const nowSeconds = () => Math.floor(Date.now() / 1000);
  let idpKey: SigningKey;
  let foreignKey: SigningKey;
  let jwks: JwksServer;
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
  const stub = new IntrospectionStub();
  const silent = pino({ level: 'silent' });
  before(async () => {
    await stub.start();
  });
  after(async () => {
    await stub.stop();
  });
  beforeEach(() => {
    stub.calls.length = 0;
    stub.tokens.clear();
    stub.tokens.set('opaque-machine-token', { clientId: 'solutrix-api', scope: 'service.api', exp: nowSeconds() + 600 });
  });

  async function appFor(mode: string, extra: Record<string, string> = {}) {
    const config = loadConfig(
      ({ TOKEN_VERIFICATION: mode, IDP_ISSUER: ISSUER, IDP_INTROSPECTION_URL: stub.url, INTROSPECTION_CLIENT_SECRET: STUB_CLIENT_SECRET, IDP_JWKS_URL: jwks.url, ...extra }),
    );
    const server = await serve(createApp(config, { verifier: createVerifier(config), log: silent }));
    const get = async (path: string, token: string) => {
      const res = await fetch(`${server.baseUrl}${path}`, { headers: { authorization: `Bearer ${token}` } });
      return { status: res.status, challenge: res.headers.get('www-authenticate'), retryAfter: res.headers.get('retry-after'), body: (await res.json()) as Record<string, unknown> };
    };
    return { get, stop: server.stop };
  }

  it('auto: verifies JWTs locally and introspects opaque tokens', async () => {
    const app = await appFor('auto');
    try {
      const jwt = await app.get('/v1/reports', await sign(idpKey, machineClaims()));
      assert.equal(jwt.status, 200);
      assert.equal(stub.calls.length, 0);
      const whoami = await app.get('/v1/whoami', 'opaque-machine-token');
      assert.equal(whoami.status, 200);
      assert.deepEqual({ ...whoami.body, expiresAt: 0 }, { subject: null, clientId: 'solutrix-api', scopes: ['service.api'], kind: 'machine', expiresAt: 0 });
      assert.equal(stub.calls.length, 1);
      assert.equal(jwks.requests, 1);

      const noScope = await app.get('/v1/reports', await sign(idpKey, { ...userClaims(), scope: 'openid' }));
      assert.equal(noScope.status, 403);
      assert.equal(noScope.challenge, 'Bearer realm="service-api", error="insufficient_scope", scope="service.api"');

      const foreign = await app.get('/v1/whoami', await sign(foreignKey, userClaims()));
      assert.equal(foreign.status, 401);
      assert.equal(foreign.challenge, 'Bearer realm="service-api", error="invalid_token", error_description="the token signature is not valid"');
      assert.deepEqual(foreign.body, { error: 'invalid_token', error_description: 'the token signature is not valid' });
      assert.equal(stub.calls.length, 1, 'a rejected JWT is never introspected');
    } finally {
      await app.stop();
    }
  });

  it('jwt: rejects opaque tokens without calling the IDP; 503 + Retry-After when the JWKS is down', async () => {
    const app = await appFor('jwt');
    try {
      const opaque = await app.get('/v1/whoami', 'opaque-machine-token');
      assert.equal(opaque.status, 401);
      assert.deepEqual(opaque.body, { error: 'invalid_token', error_description: 'the token is not a JWT' });
      assert.equal(stub.calls.length, 0);
      await jwks.stop();
      const down = await app.get('/v1/whoami', await sign(idpKey, userClaims()));
      assert.equal(down.status, 503);
      assert.equal(down.retryAfter, '5');
      assert.deepEqual(down.body, { error: 'temporarily_unavailable', error_description: 'the authorization server is unavailable' });
    } finally {
      await app.stop();
    }
  });

  it('introspection: sends JWTs to the IDP too, which refuses them (401)', async () => {
    const app = await appFor('introspection');
    try {
      const res = await app.get('/v1/whoami', await sign(idpKey, userClaims()));
      assert.equal(res.status, 401);
      assert.equal(stub.calls.length, 1);
      assert.equal(jwks.requests, 0);
    } finally {
      await app.stop();
    }
  });

  const NOT_FOR_US = {
    status: 401,
    challenge: 'Bearer realm="service-api", error="invalid_token", error_description="the token is not meant for this service"',
    retryAfter: null,
    body: { error: 'invalid_token', error_description: 'the token is not meant for this service' },
  };

  for (const mode of ['auto', 'introspection', 'jwt'] as const) {
    it(`${mode}: refuses a token meant for another service, or for none, with 401 invalid_token`, async () => {
      stub.tokens.set('opaque-for-billing', { clientId: 'billing-worker', scope: 'service.api', exp: nowSeconds() + 600, aud: 'http://localhost:4002' });
      stub.tokens.set('opaque-for-nobody', { clientId: 'solutrix-api', scope: 'service.api', exp: nowSeconds() + 600, aud: null });
      const { aud: _aud, ...noAud } = machineClaims();
      const app = await appFor(mode);
      const migrating = await appFor(mode, { ACCEPT_TOKENS_WITHOUT_AUDIENCE: 'true' });
      try {
        if (mode !== 'jwt') {
          assert.deepEqual(await app.get('/v1/reports', 'opaque-for-billing'), NOT_FOR_US);
          assert.deepEqual(await app.get('/v1/reports', 'opaque-for-nobody'), NOT_FOR_US);
          assert.equal((await app.get('/v1/reports', 'opaque-machine-token')).status, 200);
          assert.deepEqual(await migrating.get('/v1/reports', 'opaque-for-billing'), NOT_FOR_US);
          assert.equal((await migrating.get('/v1/reports', 'opaque-for-nobody')).status, 200);
        }
        if (mode !== 'introspection') {
          assert.deepEqual(await app.get('/v1/reports', await sign(idpKey, { ...machineClaims(), aud: 'http://localhost:4002' })), NOT_FOR_US);
          assert.deepEqual(await app.get('/v1/reports', await sign(idpKey, noAud)), NOT_FOR_US);
          assert.deepEqual(await migrating.get('/v1/reports', await sign(idpKey, { ...machineClaims(), aud: 'http://localhost:4002' })), NOT_FOR_US);
          assert.equal((await migrating.get('/v1/reports', await sign(idpKey, noAud))).status, 200);
        }
      } finally {
        await Promise.all([app.stop(), migrating.stop()]);
      }
    });
  }
});
