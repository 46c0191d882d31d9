import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { after, afterEach, before, beforeEach, describe, test } from 'node:test';
import { pino } from 'pino';
import { close, listen } from '../../lib/server.ts';
import { createApp } from '../src/app.ts';
import { loadConfig, type Config } from '../src/config.ts';
import { createServiceTokenClient, type ServiceTokenClient } from '../src/security/serviceToken.ts';
import { deadUrl, startStub, startTokenStub, type Stub, type StubResponse, type TokenStub } from './helpers/stubs.ts';

const WHOAMI = { sub: 'solutrix-api', client_id: 'solutrix-api', scope: 'service.api' };
const REPORTS = { reports: [{ id: 'r1', title: 'Q1' }] };
const silent = pino({ level: 'silent' });

describe('solutrix-api app', () => {
  let idp: TokenStub;
  let serviceApi: Stub;
  /** How the Service API answers a request carrying `token`; default: accept every issued token. */
  let answer: (path: string, token: string | undefined) => StubResponse;
  let server: Server | undefined;
  let base: string;

  before(async () => {
    idp = await startTokenStub();
    serviceApi = await startStub((req) => answer(req.path, /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1]));
  });
  after(async () => {
    await idp.close();
    await serviceApi.close();
  });
  beforeEach(() => {
    idp.requests.length = 0;
    idp.issued.length = 0;
    idp.mode = 'ok';
    idp.delayMs = 0;
    serviceApi.requests.length = 0;
    answer = (path, token) => {
      if (token === undefined || !idp.issued.includes(token)) {
        return { status: 401, json: { error: 'invalid_token' }, headers: { 'www-authenticate': 'Bearer error="invalid_token"' } };
      }
      if (path === '/v1/whoami') return { status: 200, json: WHOAMI };
      if (path === '/v1/reports') return { status: 200, json: REPORTS };
      return { status: 404, json: { error: 'not_found' } };
    };
  });
  afterEach(async () => {
    if (server) await close(server);
    server = undefined;
  });

  function config(env: Record<string, string> = {}): Config {
    return loadConfig({
      IDP_ISSUER: idp.issuer,
      IDP_TOKEN_URL: idp.tokenUrl,
      IDP_CLIENT_SECRET: 's3cret',
      SERVICE_API_URL: serviceApi.url,
      ...env,
    });
  }

  async function start(cfg: Config = config(), serviceToken?: ServiceTokenClient): Promise<void> {
    server = createServer(createApp(cfg, { log: silent, ...(serviceToken ? { serviceToken } : {}) }));
    base = `http://127.0.0.1:${await listen(server, 0, '127.0.0.1')}`;
  }

  async function get(path: string) {
    const res = await fetch(`${base}${path}`);
    return { status: res.status, headers: res.headers, body: await res.json() };
  }

  const tokensSent = () => serviceApi.requests.map((r) => r.headers.authorization);

  test('GET /healthz answers ok', async () => {
    await start();
    const res = await get('/healthz');
    assert.equal(res.status, 200);
    assert.deepEqual(res.body, { status: 'ok' });
    assert.equal(res.headers.get('x-powered-by'), null);
  });

  test('GET /v1/service/whoami returns the Service API answer, called with the service token', async () => {
    await start();
    const res = await get('/v1/service/whoami');
    assert.equal(res.status, 200);
    assert.deepEqual(res.body, WHOAMI);
    assert.deepEqual(serviceApi.requests.map((r) => [r.method, r.path]), [['GET', '/v1/whoami']]);
    assert.deepEqual(tokensSent(), ['Bearer token-1']);
  });

  test('GET /v1/service/reports returns the Service API answer, reusing the cached token', async () => {
    await start();
    assert.deepEqual((await get('/v1/service/whoami')).body, WHOAMI);
    const res = await get('/v1/service/reports');
    assert.equal(res.status, 200);
    assert.deepEqual(res.body, REPORTS);
    assert.deepEqual(serviceApi.requests.map((r) => r.path), ['/v1/whoami', '/v1/reports']);
    assert.deepEqual(tokensSent(), ['Bearer token-1', 'Bearer token-1']);
    assert.equal(idp.tokenRequests().length, 1);
  });

  test('200 concurrent calls make exactly one token request', async () => {
    idp.delayMs = 50; // the first token request is still in flight while the others arrive
    await start();
    const results = await Promise.all(Array.from({ length: 200 }, () => get('/v1/service/whoami')));
    assert.deepEqual(new Set(results.map((r) => JSON.stringify([r.status, r.body]))), new Set([JSON.stringify([200, WHOAMI])]));
    assert.equal(idp.tokenRequests().length, 1);
    assert.equal(serviceApi.requests.length, 200);
  });

  test('on a 401 from the Service API it gets a new token and retries once', async () => {
    const revoked = new Set(['token-1']);
    const accept = answer;
    answer = (path, token) => (token !== undefined && revoked.has(token) ? { status: 401, json: { error: 'invalid_token' } } : accept(path, token));
    await start();
    const res = await get('/v1/service/whoami');
    assert.equal(res.status, 200);
    assert.deepEqual(res.body, WHOAMI);
    assert.equal(idp.tokenRequests().length, 2);
    assert.deepEqual(tokensSent(), ['Bearer token-1', 'Bearer token-2']);
    // the new token is cached
    assert.deepEqual((await get('/v1/service/reports')).body, REPORTS);
    assert.equal(idp.tokenRequests().length, 2);
  });

  test('a second 401 is a 502 upstream_error', async () => {
    answer = () => ({ status: 401, json: { error: 'invalid_token' } });
    await start();
    const res = await get('/v1/service/whoami');
    assert.equal(res.status, 502);
    assert.deepEqual(res.body, {
      error: 'upstream_error',
      error_description: 'the Service API answered 401 invalid_token',
      upstream_status: 401,
    });
    assert.equal(idp.tokenRequests().length, 2);
    assert.deepEqual(tokensSent(), ['Bearer token-1', 'Bearer token-2']);
  });

  test('a 403 from the Service API is a 502 upstream_error, without a retry', async () => {
    answer = () => ({ status: 403, json: { error: 'insufficient_scope' } });
    await start();
    const res = await get('/v1/service/reports');
    assert.equal(res.status, 502);
    assert.deepEqual(res.body, {
      error: 'upstream_error',
      error_description: 'the Service API answered 403 insufficient_scope',
      upstream_status: 403,
    });
    assert.equal(serviceApi.requests.length, 1);
    assert.equal(idp.tokenRequests().length, 1);
  });

  test('a 503 from the Service API is a 503 with its Retry-After', async () => {
    answer = () => ({ status: 503, json: { error: 'temporarily_unavailable' }, headers: { 'retry-after': '30' } });
    await start();
    const res = await get('/v1/service/whoami');
    assert.equal(res.status, 503);
    assert.equal(res.headers.get('retry-after'), '30');
    assert.deepEqual(res.body, { error: 'temporarily_unavailable', error_description: 'the Service API is unavailable' });
  });

  test('a Service API that is down is a 503 with Retry-After', async () => {
    await start(config({ SERVICE_API_URL: await deadUrl() }));
    const res = await get('/v1/service/whoami');
    assert.equal(res.status, 503);
    assert.equal(res.headers.get('retry-after'), '5');
    assert.deepEqual(res.body, { error: 'temporarily_unavailable', error_description: 'the Service API is unreachable' });
  });

  test('a Service API that does not answer in time is a 503 with Retry-After', async () => {
    answer = () => ({ status: 200, json: WHOAMI, delayMs: Infinity });
    await start({ ...config(), serviceApiTimeoutMs: 200 });
    const res = await get('/v1/service/whoami');
    assert.equal(res.status, 503);
    assert.equal(res.headers.get('retry-after'), '5');
    assert.deepEqual(res.body, { error: 'temporarily_unavailable', error_description: 'the Service API timed out' });
  });

  test('an IDP that is down is a 503 with Retry-After, and the Service API is not called', async () => {
    await start(config({ IDP_TOKEN_URL: `${await deadUrl()}/oauth/token` }));
    const res = await get('/v1/service/whoami');
    assert.equal(res.status, 503);
    assert.equal(res.headers.get('retry-after'), '5');
    assert.deepEqual(res.body, { error: 'temporarily_unavailable', error_description: 'the identity provider is unavailable' });
    assert.equal(serviceApi.requests.length, 0);
  });

  test('an IDP answering 5xx is a 503; the next call asks it again', async () => {
    idp.mode = 'server_error';
    await start();
    const res = await get('/v1/service/whoami');
    assert.equal(res.status, 503);
    assert.deepEqual(res.body, { error: 'temporarily_unavailable', error_description: 'the identity provider is unavailable' });
    idp.mode = 'ok';
    const retried = await get('/v1/service/whoami');
    assert.equal(retried.status, 200);
    assert.deepEqual(retried.body, WHOAMI);
    assert.equal(idp.tokenRequests().length, 2);
  });

  test('rejected client credentials are a 502 upstream_error', async () => {
    await start(config({ IDP_CLIENT_SECRET: 'wrong' }));
    const res = await get('/v1/service/whoami');
    assert.equal(res.status, 502);
    assert.deepEqual(res.body, {
      error: 'upstream_error',
      error_description: 'the identity provider refused the service token request (invalid_client)',
      upstream_status: 401,
    });
    assert.equal(serviceApi.requests.length, 0);
  });

  test('unknown routes are a JSON 404', async () => {
    await start();
    const res = await get('/nope?x=1');
    assert.equal(res.status, 404);
    assert.deepEqual(res.body, { error: 'not_found' });
  });

  test('an unexpected error is a 500 server_error without internals', async () => {
    const broken: ServiceTokenClient = {
      stats: { tokenRequests: 0, cacheHits: 0, failures: { unavailable: 0, rejected: 0, invalid_response: 0 } },
      getToken: () => Promise.reject(new Error('boom: secret=s3cret')),
      invalidate: () => {},
    };
    await start(config(), broken);
    const res = await get('/v1/service/whoami');
    assert.equal(res.status, 500);
    assert.deepEqual(res.body, { error: 'server_error' });
  });

  test('uses discovery when IDP_TOKEN_URL is unset', async () => {
    const cfg = config({ IDP_TOKEN_URL: '' });
    await start(cfg, createServiceTokenClient(cfg.serviceToken));
    assert.deepEqual((await get('/v1/service/whoami')).body, WHOAMI);
    assert.deepEqual(idp.discoveryRequests().length, 1);
  });
});
