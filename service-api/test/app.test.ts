import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { after, before, beforeEach, describe, it } from 'node:test';
import { pino } from 'pino';
import { createApp } from '../src/app.ts';
import { createIntrospectionVerifier, type IntrospectionVerifier } from '../src/auth/introspect.ts';
import { loadConfig, type Config } from '../src/config.ts';
import { REPORTS } from '../src/routes/reports.ts';
import { poll, waitFor } from '../../test/support/wait.ts';
import { rawGet, rawRequest, serve } from './support/http.ts';
import { closedPortUrl, frozenClock, IntrospectionStub, STUB_CLIENT_SECRET, STUB_ISSUER } from './support/introspectionStub.ts';

const stub = new IntrospectionStub();
const clock = frozenClock();
const exp = Math.floor(clock.now() / 1000) + 600;
const logLines: string[] = [];
const log = pino(
  { level: 'debug' },
  new Writable({
    write(chunk: Buffer, _encoding, done) {
      logLines.push(chunk.toString());
      done();
    },
  }),
);

let config: Config;
let verifier: IntrospectionVerifier;
let baseUrl = '';
let stop: () => Promise<void>;

before(async () => {
  await stub.start();
  config = loadConfig({
    IDP_INTROSPECTION_URL: stub.url,
    INTROSPECTION_CLIENT_SECRET: STUB_CLIENT_SECRET,
    IDP_ISSUER: STUB_ISSUER,
    // Generous for a cold first fetch on a loaded machine; the timeout test waits for it twice.
    INTROSPECTION_TIMEOUT_MS: '1000',
  });
  verifier = createIntrospectionVerifier({ ...config.introspection!, now: clock.now });
  ({ baseUrl, stop } = await serve(createApp(config, { verifier, log })));
});
after(async () => {
  await stop();
  await stub.stop();
});
beforeEach(() => {
  stub.calls.length = 0;
  stub.mode = 'normal';
  stub.gate = undefined;
  stub.tokens.clear();
  logLines.length = 0;
});

// A fresh token per test keeps the shared verifier's cache out of the way.
let counter = 0;
function token(claims: { sub?: string; scope?: string; clientId?: string } = {}): string {
  const value = `tok-${++counter}-${'x'.repeat(20)}`;
  stub.tokens.set(value, { clientId: claims.clientId ?? 'solutrix-api', exp, ...claims });
  return value;
}

async function get(path: string, headers: Record<string, string> = {}) {
  const res = await fetch(`${baseUrl}${path}`, { headers });
  return { status: res.status, headers: res.headers, body: (await res.json()) as unknown };
}

describe('service-api app', () => {
  it('GET /healthz answers without a token and without calling the IDP', async () => {
    const res = await get('/healthz');
    assert.equal(res.status, 200);
    assert.deepEqual(res.body, { status: 'ok' });
    assert.equal(res.headers.get('x-powered-by'), null);
    assert.equal(stub.calls.length, 0);
  });

  it('every answer (health, 401, 404) carries the shared security headers', async () => {
    for (const path of ['/healthz', '/v1/whoami', '/nowhere']) {
      const res = await fetch(`${baseUrl}${path}`);
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

  it('answers unknown routes with a JSON 404', async () => {
    const res = await get('/nope');
    assert.equal(res.status, 404);
    assert.deepEqual(res.body, { error: 'not_found' });
  });

  it('GET /v1/whoami returns the principal of a user token', async () => {
    const t = token({ sub: 'alice', clientId: 'web', scope: 'openid profile' });
    const res = await get('/v1/whoami', { authorization: `Bearer ${t}` });
    assert.equal(res.status, 200);
    assert.deepEqual(res.body, { subject: 'alice', clientId: 'web', scopes: ['openid', 'profile'], kind: 'user', expiresAt: exp });
  });

  it('GET /v1/whoami returns a machine principal with subject null', async () => {
    const t = token({ scope: 'service.api' });
    const res = await get('/v1/whoami', { authorization: `Bearer ${t}` });
    assert.equal(res.status, 200);
    assert.deepEqual(res.body, { subject: null, clientId: 'solutrix-api', scopes: ['service.api'], kind: 'machine', expiresAt: exp });
  });

  it('GET /v1/reports returns the reports to a token with service.api', async () => {
    const res = await get('/v1/reports', { authorization: `Bearer ${token({ scope: 'service.api' })}` });
    assert.equal(res.status, 200);
    assert.deepEqual(res.body, { reports: REPORTS });
    assert.equal(REPORTS[0]?.id, 'q3-revenue');
  });

  it('GET /v1/reports answers 403 insufficient_scope to a token without service.api', async () => {
    const res = await get('/v1/reports', { authorization: `Bearer ${token({ sub: 'alice', scope: 'openid' })}` });
    assert.equal(res.status, 403);
    assert.equal(res.headers.get('www-authenticate'), 'Bearer realm="service-api", error="insufficient_scope", scope="service.api"');
    assert.deepEqual(res.body, {
      error: 'insufficient_scope',
      error_description: 'the token lacks the scope "service.api"',
      scope: 'service.api',
    });
  });

  it('answers 401 with the realm challenge when the Authorization header is missing', async () => {
    const res = await get('/v1/whoami');
    assert.equal(res.status, 401);
    assert.equal(res.headers.get('www-authenticate'), 'Bearer realm="service-api"');
    assert.deepEqual(res.body, { error: 'unauthorized', error_description: 'a bearer token is required' });
  });

  it('answers 400 invalid_request to a Basic header', async () => {
    const res = await get('/v1/whoami', { authorization: 'Basic abc' });
    assert.equal(res.status, 400);
    assert.equal(
      res.headers.get('www-authenticate'),
      'Bearer realm="service-api", error="invalid_request", error_description="the Authorization header must be the Bearer scheme and one b64token"',
    );
  });

  it('answers 400 invalid_request to repeated Authorization headers', async () => {
    const t = token({ scope: 'service.api' });
    const res = await rawGet(`${baseUrl}/v1/whoami`, { authorization: [`Bearer ${t}`, `Bearer ${t}`] });
    assert.equal(res.status, 400);
    assert.deepEqual(JSON.parse(res.body), { error: 'invalid_request', error_description: 'repeated Authorization header' });
    assert.equal(stub.calls.length, 0);
  });

  it('answers 401 invalid_token with WWW-Authenticate to an inactive token', async () => {
    const res = await get('/v1/whoami', { authorization: 'Bearer not-issued-by-anyone' });
    assert.equal(res.status, 401);
    assert.equal(res.headers.get('www-authenticate'), 'Bearer realm="service-api", error="invalid_token", error_description="the token is not active"');
    assert.deepEqual(res.body, { error: 'invalid_token', error_description: 'the token is not active' });
  });

  it('answers 401 invalid_token to a JWT-shaped token the IDP will not introspect', async () => {
    const res = await get('/v1/whoami', { authorization: 'Bearer eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhIn0.c2ln' });
    assert.equal(res.status, 401);
    assert.deepEqual(res.body, { error: 'invalid_token', error_description: 'the token is not valid' });
  });

  it('rejects a 10 kB token with 401 and no IDP call', async () => {
    const res = await get('/v1/whoami', { authorization: `Bearer ${'a'.repeat(10_240)}` });
    assert.equal(res.status, 401);
    assert.equal(res.headers.get('www-authenticate'), 'Bearer realm="service-api", error="invalid_token", error_description="the token is too long"');
    assert.deepEqual(res.body, { error: 'invalid_token', error_description: 'the token is too long' });
    assert.equal(stub.calls.length, 0);
  });

  it('shares one introspection among 100 concurrent requests with one uncached token', async () => {
    const t = token({ scope: 'service.api' });
    let release!: () => void;
    stub.gate = new Promise((resolve) => (release = resolve));
    const coalescedBefore = verifier.stats.coalesced;
    const responses = Array.from({ length: 100 }, () => get('/v1/whoami', { authorization: `Bearer ${t}` }));
    await stub.waitForCalls(1);
    // Hold the IDP's answer until every request has reached the verifier.
    await waitFor(() => verifier.stats.coalesced - coalescedBefore >= 99, 10_000, 'every request at the verifier', { intervalMs: 0 });
    release();
    const results = await Promise.all(responses);
    assert.deepEqual(new Set(results.map((r) => r.status)), new Set([200]));
    assert.equal(stub.calls.length, 1);
  });

  for (const [name, arrange] of [
    ['answers 500', async () => void (stub.mode = 'error500')],
    ['times out', async () => void (stub.mode = 'hang')],
  ] as const) {
    it(`answers 503 with Retry-After when the IDP ${name}, and retries on the next request`, async () => {
      await arrange();
      const t = token({ scope: 'service.api' });
      for (let attempt = 1; attempt <= 2; attempt++) {
        const res = await get('/v1/whoami', { authorization: `Bearer ${t}` });
        assert.equal(res.status, 503);
        assert.equal(res.headers.get('retry-after'), '5');
        assert.equal(res.headers.get('www-authenticate'), null);
        assert.deepEqual(res.body, { error: 'temporarily_unavailable', error_description: 'the authorization server is unavailable' });
        assert.equal(stub.calls.length, attempt);
      }
    });
  }

  it('answers 503 when the IDP refuses connections or rejects our client credentials', async () => {
    for (const env of [{ IDP_INTROSPECTION_URL: await closedPortUrl() }, { INTROSPECTION_CLIENT_SECRET: 'wrong' }]) {
      const cfg = loadConfig({ IDP_INTROSPECTION_URL: stub.url, INTROSPECTION_CLIENT_SECRET: STUB_CLIENT_SECRET, IDP_ISSUER: STUB_ISSUER, ...env });
      const app = await serve(createApp(cfg, { log, now: clock.now }));
      try {
        const res = await fetch(`${app.baseUrl}/v1/whoami`, { headers: { authorization: `Bearer ${token()}` } });
        assert.equal(res.status, 503);
        assert.equal(res.headers.get('retry-after'), '5');
        assert.deepEqual(await res.json(), { error: 'temporarily_unavailable', error_description: 'the authorization server is unavailable' });
      } finally {
        await app.stop();
      }
    }
  });

  it('keeps serving a cached token during an IDP outage', async () => {
    const t = token({ scope: 'service.api' });
    assert.equal((await get('/v1/reports', { authorization: `Bearer ${t}` })).status, 200);
    stub.mode = 'error500';
    const res = await get('/v1/reports', { authorization: `Bearer ${t}` });
    assert.equal(res.status, 200);
    assert.deepEqual(res.body, { reports: REPORTS });
    assert.equal(stub.calls.length, 1);
  });

  it('answers 400 invalid_request to a malformed JSON body', async () => {
    const res = await rawRequest(`${baseUrl}/v1/whoami`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token()}`, 'content-type': 'application/json' },
      body: '{"a":',
    });
    assert.equal(res.status, 400);
    assert.deepEqual(JSON.parse(res.body), { error: 'invalid_request', error_description: 'the request could not be parsed' });
  });

  it('answers 500 server_error without internals when something unexpected fails', async () => {
    const broken = { verify: async () => Promise.reject(new Error('db password is hunter2')) };
    const app = await serve(createApp(config, { verifier: broken, log }));
    try {
      const res = await fetch(`${app.baseUrl}/v1/whoami`, { headers: { authorization: 'Bearer whatever' } });
      assert.equal(res.status, 500);
      assert.equal(await res.text(), '{"error":"server_error"}');
    } finally {
      await app.stop();
    }
  });

  it('logs one line per request with method, path without query, status and latency, and never the token', async () => {
    const t = token({ scope: 'service.api' });
    await get(`/v1/reports?access_token=${t}`, { authorization: `Bearer ${t}` });
    // The line is written on the server's 'close', which can trail the client's read of the body.
    await poll(() => logLines.some((l) => l.includes('"msg":"request"')), Boolean, { timeoutMs: 2000, intervalMs: 0 });
    const requests = logLines.map((line) => JSON.parse(line) as Record<string, unknown>).filter((l) => l.msg === 'request');
    assert.equal(requests.length, 1);
    const { method, path, status, ms } = requests[0]!;
    assert.deepEqual({ method, path, status }, { method: 'GET', path: '/v1/reports', status: 200 });
    assert.equal(typeof ms, 'number');
    assert.ok(!logLines.join('').includes(t));
    assert.ok(!logLines.join('').includes(STUB_CLIENT_SECRET));
  });
});
