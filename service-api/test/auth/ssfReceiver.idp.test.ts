// The receiver against the real IDP's Shared Signals transmitter (idp/src/ssf/), seeded as the stack
// is: service-introspector has ssf.manage. The Service API runs in-process on port 0 (to read its
// state) or as its own process (SIGTERM).
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { after, before, describe, it } from 'node:test';
import { pino } from 'pino';
import { basic, postForm, registerClient, type RegisteredClient, type TestIdp } from '../../../test/support/idp.ts';
import { startService } from '../../../test/support/process.ts';
import { waitFor } from '../../../test/support/wait.ts';
import { AUDIENCE, get, requestLines, serviceApiEnv, startSeededIdp, token } from '../../../test/integration/stack.ts';
import { createService, type Service } from '../../src/app.ts';
import { loadConfig } from '../../src/config.ts';
import { serve } from '../support/http.ts';

const silent = pino({ level: 'silent' });

async function revoke(idp: TestIdp, c: RegisteredClient, t: string): Promise<number> {
  const res = await fetch(`${idp.issuer}/revoke`, {
    method: 'POST',
    headers: { authorization: basic(c.client_id, c.client_secret), 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ token: t, token_type_hint: 'access_token' }),
  });
  await res.body?.cancel();
  return res.status;
}

/** A Service API with revocation events on, in-process, connected to the IDP's stream. */
async function startReceivingApi(idp: TestIdp, credentialsDir: string, env: Record<string, string>) {
  const config = loadConfig(serviceApiEnv(idp, credentialsDir, { REVOCATION_EVENTS: 'ssf', ...env }));
  const service = createService(config, { log: silent });
  const served = await serve(service.app);
  service.receiver!.start();
  await waitFor(() => service.revocations!.state === 'connected', 10_000, 'the stream connected');
  return {
    service,
    baseUrl: served.baseUrl,
    async stop() {
      await service.receiver!.stop();
      await served.stop();
    },
  };
}

/** Milliseconds from now until GET /v1/whoami with `t` answers 401 (bounded by `timeoutMs`). */
async function msUntilRefused(baseUrl: string, t: string, timeoutMs = 5000): Promise<number> {
  const started = performance.now();
  for (;;) {
    const { status } = await get(`${baseUrl}/v1/whoami`, t);
    const elapsed = performance.now() - started;
    if (status === 401 || elapsed > timeoutMs) return status === 401 ? elapsed : Number.POSITIVE_INFINITY;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

async function ssfStream(idp: TestIdp, introspector: RegisteredClient, streamId: string): Promise<number> {
  const res = await postForm(`${idp.issuer}/token`, introspector, { grant_type: 'client_credentials', scope: 'ssf.manage', resource: `${new URL(idp.issuer).origin}/ssf` });
  const found = await fetch(`${idp.origin}/ssf/streams?stream_id=${encodeURIComponent(streamId)}`, { headers: { authorization: `Bearer ${String(res.body.access_token)}` } });
  await found.body?.cancel();
  return found.status;
}

describe('the receiver against the real IDP, opaque tokens', () => {
  let idp: TestIdp;
  let credentialsDir: string;
  let client: (id: string) => RegisteredClient;
  before(async () => {
    ({ idp, credentialsDir, client } = await startSeededIdp('opaque'));
  });
  after(async () => {
    await idp?.stop();
  });

  it('a revoked token is refused within 1 s although the cache may keep answers 600 s', async () => {
    const api = await startReceivingApi(idp, credentialsDir, { INTROSPECTION_CACHE_MAX_TTL: '600' });
    try {
      const revocable = await registerClient(idp, 'revocable-opaque', ['service.api']);
      const t = await token(idp, revocable, { scope: 'service.api' });
      const other = await token(idp, revocable, { scope: 'service.api' });
      assert.equal((await get(`${api.baseUrl}/v1/whoami`, t)).status, 200);
      assert.equal((await get(`${api.baseUrl}/v1/whoami`, other)).status, 200);
      assert.equal(await revoke(idp, revocable, t), 200);
      const ms = await msUntilRefused(api.baseUrl, t);
      assert.ok(ms < 1000, `refused after ${ms} ms`);
      assert.equal((await get(`${api.baseUrl}/v1/whoami`, other)).status, 200, 'another token of the same client is unaffected');
    } finally {
      await api.stop();
    }
  });

  it('a stream deleted at the IDP (404 on the next poll) flushes the cache and a new stream is created', async () => {
    const api = await startReceivingApi(idp, credentialsDir, { INTROSPECTION_CACHE_MAX_TTL: '600' });
    try {
      const t = await token(idp, await registerClient(idp, 'flushed', ['service.api']), { scope: 'service.api' });
      await get(`${api.baseUrl}/v1/whoami`, t);
      await get(`${api.baseUrl}/v1/whoami`, t);
      const introspections = requestLines(idp, 'POST', '/oauth/introspect').length;
      const old = api.service.receiver!.streamId!;
      const introspector = client('service-introspector');
      const res = await postForm(`${idp.issuer}/token`, introspector, { grant_type: 'client_credentials', scope: 'ssf.manage', resource: `${new URL(idp.issuer).origin}/ssf` });
      const deleted = await fetch(`${idp.origin}/ssf/streams?stream_id=${encodeURIComponent(old)}`, { method: 'DELETE', headers: { authorization: `Bearer ${String(res.body.access_token)}` } });
      assert.equal(deleted.status, 204);
      await waitFor(() => api.service.receiver!.streamId !== undefined && api.service.receiver!.streamId !== old && api.service.revocations!.state === 'connected', 10_000, 'a new stream');
      assert.equal(await ssfStream(idp, introspector, api.service.receiver!.streamId!), 200);
      assert.equal((await get(`${api.baseUrl}/v1/whoami`, t)).status, 200);
      await waitFor(() => requestLines(idp, 'POST', '/oauth/introspect').length === introspections + 1, 5000, 'one introspection after the flush');
    } finally {
      await api.stop();
    }
  });

  it('on SIGTERM the Service API process deletes its stream', async () => {
    const api = await startService('service-api/src/main.ts', { ...serviceApiEnv(idp, credentialsDir), REVOCATION_EVENTS: 'ssf', LOG_LEVEL: 'info' });
    let streamId: string | undefined;
    try {
      await waitFor(
        () => {
          const line = api.output().split('\n').find((l) => l.includes('"revocation events connected"'));
          streamId = line === undefined ? undefined : (JSON.parse(line) as { streamId: string }).streamId;
          return streamId !== undefined;
        },
        10_000,
        'the stream connected',
      );
      assert.equal(await ssfStream(idp, client('service-introspector'), streamId!), 200);
    } finally {
      const exited = once(api.child, 'exit');
      await api.stop('SIGTERM');
      assert.equal(((await exited) as [number | null])[0], 0);
    }
    assert.equal(await ssfStream(idp, client('service-introspector'), streamId!), 404, 'deleted');
    assert.ok(api.output().includes('revocation-event stream deleted'));
  });
});

describe('the receiver against the real IDP, JWT access tokens', () => {
  let idp: TestIdp;
  let credentialsDir: string;
  before(async () => {
    ({ idp, credentialsDir } = await startSeededIdp('jwt'));
  });
  after(async () => {
    await idp?.stop();
  });

  it('a revoked JWT is refused within 1 s although verified principals may be kept 600 s', async () => {
    const api = await startReceivingApi(idp, credentialsDir, { JWT_CACHE_MAX_TTL: '600' });
    try {
      const revocable = await registerClient(idp, 'revocable-jwt', ['service.api']);
      const t = await token(idp, revocable, { scope: 'service.api', resource: AUDIENCE });
      const other = await token(idp, revocable, { scope: 'service.api', resource: AUDIENCE });
      assert.equal((await get(`${api.baseUrl}/v1/whoami`, t)).status, 200);
      assert.equal(await revoke(idp, revocable, t), 200);
      const ms = await msUntilRefused(api.baseUrl, t);
      assert.ok(ms < 1000, `refused after ${ms} ms`);
      const refused = await get(`${api.baseUrl}/v1/whoami`, t);
      assert.deepEqual(refused.body, { error: 'invalid_token', error_description: 'the token has been revoked' });
      assert.equal((await get(`${api.baseUrl}/v1/whoami`, other)).status, 200);
    } finally {
      await api.stop();
    }
  });
});
