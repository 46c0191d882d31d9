// Solutrix-API → Service API → IDP with real processes, in the access-token format of
// ACCESS_TOKEN_FORMAT (opaque: introspection; jwt: RFC 9068 at+jwt verified locally by the Service
// API in `auto` mode). Where a test needs an injected clock or counters, the app runs in-process on
// port 0 against the real IDP.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { decodeJwt, decodeProtectedHeader } from 'jose';
import { pino } from 'pino';
import { basic, registerClient, type RegisteredClient, type TestIdp } from '../support/idp.ts';
import type { Service } from '../support/process.ts';
import { createApp as createServiceApiApp } from '../../service-api/src/app.ts';
import { loadConfig as loadServiceApiConfig } from '../../service-api/src/config.ts';
import { serve } from '../../service-api/test/support/http.ts';
import { frozenClock } from '../../service-api/test/support/introspectionStub.ts';
import { createApp as createSolutrixApp } from '../../solutrix-api/src/app.ts';
import { loadConfig as loadSolutrixConfig } from '../../solutrix-api/src/config.ts';
import { createServiceTokenClient } from '../../solutrix-api/src/security/serviceToken.ts';
import { AUDIENCE, get, MODE, requestLines, serviceApiEnv, solutrixEnv, startSeededIdp, startServiceApi, startSolutrix, token } from './stack.ts';
import { eventually } from '../support/wait.ts';

const silent = pino({ level: 'silent' });
let idp: TestIdp;
let credentialsDir: string;
let client: (id: string) => RegisteredClient;
let serviceApi: Service;
let solutrix: Service;

before(async () => {
  ({ idp, credentialsDir, client } = await startSeededIdp());
  serviceApi = await startServiceApi(serviceApiEnv(idp, credentialsDir));
  solutrix = await startSolutrix(solutrixEnv(idp, credentialsDir, serviceApi.origin));
});
after(async () => {
  await Promise.all([solutrix?.stop(), serviceApi?.stop()]);
  await idp?.stop();
});

/** RFC 7009 revocation as the token's own client; the answer has no body. */
async function revoke(c: RegisteredClient, t: string): Promise<{ status: number; error?: unknown }> {
  const res = await fetch(`${idp.issuer}/revoke`, {
    method: 'POST',
    headers: { authorization: basic(c.client_id, c.client_secret), 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ token: t, token_type_hint: 'access_token' }),
  });
  const text = await res.text();
  return { status: res.status, ...(text ? { error: (JSON.parse(text) as { error?: unknown }).error } : {}) };
}

describe(`the machine-to-machine flow (ACCESS_TOKEN_FORMAT=${MODE})`, () => {
  // First on purpose: Solutrix has no token yet, so the count is of one cold start.
  it('Solutrix fetches ONE token for 200 concurrent downstream calls', async () => {
    const tokenRequests = requestLines(idp, 'POST', '/oauth/token').length;
    const introspections = requestLines(idp, 'POST', '/oauth/introspect').length;
    const answers = await Promise.all(Array.from({ length: 200 }, () => get(`${solutrix.origin}/v1/service/reports`)));
    assert.deepEqual(new Set(answers.map((a) => a.status)), new Set([200]));
    assert.equal(await eventually(() => requestLines(idp, 'POST', '/oauth/token').length - tokenRequests, 1), 1);
    // The Service API shares one introspection among concurrent uses of one token; a JWT needs none.
    const expected = MODE === 'jwt' ? 0 : 1;
    assert.equal(await eventually(() => requestLines(idp, 'POST', '/oauth/introspect').length - introspections, expected), expected);
    assert.equal(await eventually(() => requestLines(serviceApi, 'GET', '/v1/reports').filter((l) => l.status === 200).length, 200), 200);
  });

  it('Solutrix → Service API → IDP answers clientId solutrix-api, scope service.api, kind machine', async () => {
    const res = await get(`${solutrix.origin}/v1/service/whoami`);
    assert.equal(res.status, 200);
    assert.deepEqual({ ...res.body, expiresAt: typeof res.body.expiresAt }, {
      subject: null,
      clientId: 'solutrix-api',
      scopes: ['service.api'],
      kind: 'machine',
      expiresAt: 'number',
    });
  });

  it(`the IDP issues ${MODE === 'jwt' ? 'RFC 9068 at+jwt' : 'opaque'} access tokens`, async () => {
    const t = await token(idp, client('solutrix-api'), { scope: 'service.api', ...(MODE === 'jwt' ? { resource: AUDIENCE } : {}) });
    if (MODE === 'jwt') {
      assert.deepEqual({ ...decodeProtectedHeader(t), kid: 'present' }, { alg: 'RS256', typ: 'at+jwt', kid: 'present' });
      const claims = decodeJwt(t);
      assert.deepEqual([claims.iss, claims.aud, claims.sub, claims.client_id, claims.scope], [idp.issuer, AUDIENCE, 'solutrix-api', 'solutrix-api', 'service.api']);
    } else {
      assert.doesNotMatch(t, /\./);
    }
  });

  it('a token without service.api: 403 insufficient_scope on /v1/reports, 200 on /v1/whoami', async () => {
    const noScope = await registerClient(idp, `no-scope-${MODE}`, []);
    const t = await token(idp, noScope);
    const reports = await get(`${serviceApi.origin}/v1/reports`, t);
    assert.equal(reports.status, 403);
    assert.equal(reports.headers.get('www-authenticate'), 'Bearer realm="service-api", error="insufficient_scope", scope="service.api"');
    assert.deepEqual(reports.body, { error: 'insufficient_scope', error_description: 'the token lacks the scope "service.api"', scope: 'service.api' });
    const whoami = await get(`${serviceApi.origin}/v1/whoami`, t);
    assert.equal(whoami.status, 200);
    assert.deepEqual([whoami.body.clientId, whoami.body.scopes, whoami.body.kind], [noScope.client_id, [], 'machine']);
  });

  it('a forged or garbage token is 401 invalid_token', async () => {
    for (const bad of ['not-a-real-token', 'eyJhbGciOiJub25lIiwidHlwIjoiYXQrand0In0.eyJzdWIiOiJ4In0.']) {
      const res = await get(`${serviceApi.origin}/v1/whoami`, bad);
      assert.equal(res.status, 401);
      assert.match(res.headers.get('www-authenticate') ?? '', /error="invalid_token"/);
    }
  });

  if (MODE === 'opaque') {
    it('a revoked token is rejected once the cache bound (30 s) has passed', async () => {
      const clock = frozenClock(Date.now());
      const config = loadServiceApiConfig(serviceApiEnv(idp, credentialsDir));
      const app = await serve(createServiceApiApp(config, { now: clock.now, log: silent }));
      try {
        const revocable = await registerClient(idp, 'revocable-opaque', ['service.api']);
        const t = await token(idp, revocable, { scope: 'service.api' });
        assert.equal((await get(`${app.baseUrl}/v1/whoami`, t)).status, 200);
        assert.equal((await revoke(revocable, t)).status, 200);
        // The IDP knows at once (an uncached verifier sees it), the cached answer lasts at most 30 s.
        assert.equal((await get(`${serviceApi.origin}/v1/whoami`, t)).status, 401);
        clock.advance(29_000);
        assert.equal((await get(`${app.baseUrl}/v1/whoami`, t)).status, 200);
        clock.advance(1_001);
        const res = await get(`${app.baseUrl}/v1/whoami`, t);
        assert.equal(res.status, 401);
        assert.deepEqual(res.body, { error: 'invalid_token', error_description: 'the token is not active' });
      } finally {
        await app.stop();
      }
    });

    it('retries once on a 401: a revoked cached service token is replaced and the call succeeds', async () => {
      const config = loadSolutrixConfig({ ...solutrixEnv(idp, credentialsDir, serviceApi.origin), LOG_LEVEL: 'silent' });
      const tokens = createServiceTokenClient(config.serviceToken);
      const app = await serve(createSolutrixApp(config, { serviceToken: tokens, log: silent }));
      try {
        const stale = await tokens.getToken();
        assert.equal((await revoke(client('solutrix-api'), stale)).status, 200);
        const before401 = requestLines(serviceApi, 'GET', '/v1/whoami').filter((l) => l.status === 401).length;
        const res = await get(`${app.baseUrl}/v1/service/whoami`);
        assert.equal(res.status, 200);
        assert.equal(res.body.clientId, 'solutrix-api');
        assert.equal(tokens.stats.tokenRequests, 2, 'the revoked token, then one replacement');
        assert.notEqual(await tokens.getToken(), stale);
        assert.equal(await eventually(() => requestLines(serviceApi, 'GET', '/v1/whoami').filter((l) => l.status === 401).length - before401, 1), 1);
      } finally {
        await app.stop();
      }
    });
  } else {
    it('a revoked JWT (the IDP remembers its jti) still verifies at a Service API that does not receive revocation events, until its exp, then 401', async () => {
      const clock = frozenClock(Date.now());
      const config = loadServiceApiConfig(serviceApiEnv(idp, credentialsDir));
      const app = await serve(createServiceApiApp(config, { now: clock.now, log: silent }));
      try {
        const revocable = await registerClient(idp, 'revocable-jwt', ['service.api']);
        const t = await token(idp, revocable, { scope: 'service.api' });
        assert.equal((await get(`${app.baseUrl}/v1/whoami`, t)).status, 200);
        // The IDP revokes its own JWTs (idp/src/ssf/jwtRevocation.ts), but only Shared Signals carry that
        // to a Service API verifying locally: without them, nothing reaches it.
        assert.deepEqual(await revoke(revocable, t), { status: 200 });
        assert.equal((await get(`${serviceApi.origin}/v1/whoami`, t)).status, 200);
        clock.advance(31_000);
        assert.equal((await get(`${app.baseUrl}/v1/whoami`, t)).status, 200, 'past the opaque cache bound, still accepted');
        clock.advance(((decodeJwt(t).exp ?? 0) * 1000) - clock.now() + 1);
        const res = await get(`${app.baseUrl}/v1/whoami`, t);
        assert.equal(res.status, 401);
        assert.deepEqual(res.body, { error: 'invalid_token', error_description: 'the token has expired' });
      } finally {
        await app.stop();
      }
    });

    it('a service token revoked at the IDP keeps working at a Service API without revocation events, so Solutrix does not retry (the retry path: keyRotation.jwt.test.ts)', async () => {
      const config = loadSolutrixConfig({ ...solutrixEnv(idp, credentialsDir, serviceApi.origin), LOG_LEVEL: 'silent' });
      const tokens = createServiceTokenClient(config.serviceToken);
      const app = await serve(createSolutrixApp(config, { serviceToken: tokens, log: silent }));
      try {
        const cached = await tokens.getToken();
        assert.deepEqual(await revoke(client('solutrix-api'), cached), { status: 200 });
        const res = await get(`${app.baseUrl}/v1/service/whoami`);
        assert.equal(res.status, 200);
        assert.equal(tokens.stats.tokenRequests, 1);
        assert.equal(await tokens.getToken(), cached);
      } finally {
        await app.stop();
      }
    });
  }
});
