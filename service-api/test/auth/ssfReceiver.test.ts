// The Service API with REVOCATION_EVENTS=ssf against a transmitter on a real HTTP server that signs
// SETs with jose (support/transmitter.ts) and the introspection stub, on a frozen clock: what each
// event evicts, what is refused, and the cache bound while the stream is healthy or not.
import assert from 'node:assert/strict';
import { hash } from 'node:crypto';
import { describe, it } from 'node:test';
import { createService, type Service } from '../../src/app.ts';
import { loadConfig } from '../../src/config.ts';
import { EVENT_TYPES } from '../../src/auth/securityEvents.ts';
import { waitFor } from '../../../test/support/wait.ts';
import { capturingLogger, stubEnv } from '../support/app.ts';
import { serve } from '../support/http.ts';
import { frozenClock, IntrospectionStub, STUB_ISSUER } from '../support/introspectionStub.ts';
import { AUDIENCE, sign, signingKey } from '../support/jwks.ts';
import { TestTransmitter } from '../support/transmitter.ts';

type Ctx = {
  stub: IntrospectionStub;
  tx: TestTransmitter;
  clock: ReturnType<typeof frozenClock>;
  service: Service;
  exp: number;
  lines: string[];
  get(token: string): Promise<{ status: number; body: Record<string, unknown> }>;
  healthz(): Promise<Record<string, unknown>>;
  /** The value of one sample line of GET /metrics, e.g. `service_api_revocation_events_state{state="connected"}`. */
  metric(sample: string): Promise<number | undefined>;
  /** Introspections of this token so far. */
  introspections(token: string): number;
  /** Signs and queues a SET; resolves once the receiver has acknowledged it. */
  applied(event: Record<string, unknown>, subId: Record<string, unknown>): Promise<string>;
};

const hashOf = (token: string) => hash('sha256', token, 'base64url');
const tokenSubject = (token: string) => ({ format: 'oauth_token', token_type: 'access_token', token_identifier_alg: 'hash_256', token: hashOf(token) });
const revokeToken = (token: string) => [{ [EVENT_TYPES.tokenRevoked]: {} }, tokenSubject(token)] as const;

/** Runs `fn` against a fresh service whose receiver has connected; stops everything after. */
async function withService(env: Record<string, string>, fn: (ctx: Ctx) => Promise<void>, { refuseStreams = false } = {}): Promise<void> {
  const stub = await new IntrospectionStub().start();
  const tx = await new TestTransmitter().start();
  tx.refuseStreams = refuseStreams;
  const clock = frozenClock();
  const { log, lines } = capturingLogger();
  const config = loadConfig(
    stubEnv(stub, { REVOCATION_EVENTS: 'ssf', IDP_SSF_CONFIGURATION_URL: tx.configurationUrl, IDP_TOKEN_URL: tx.tokenUrl, IDP_JWKS_URL: tx.jwksUrl, ...env }),
  );
  const service = createService(config, { now: clock.now, log, receiver: { backoff: { initialMs: 20, maxMs: 100 } } });
  const served = await serve(service.app);
  service.receiver!.start();
  const ctx: Ctx = {
    stub,
    tx,
    clock,
    service,
    exp: Math.floor(clock.now() / 1000) + 3600,
    lines,
    async get(token) {
      const res = await fetch(`${served.baseUrl}/v1/whoami`, { headers: { authorization: `Bearer ${token}` } });
      return { status: res.status, body: (await res.json()) as Record<string, unknown> };
    },
    async healthz() {
      return (await (await fetch(`${served.baseUrl}/healthz`)).json()) as Record<string, unknown>;
    },
    async metric(sample) {
      const text = await (await fetch(`${served.baseUrl}/metrics`)).text();
      // Every sample also carries the registry's default label (service="service-api").
      const [name, labels = ''] = sample.replace(/}$/, '').split('{') as [string, string?];
      const pairs = labels.split(',').filter(Boolean);
      const line = text.split('\n').find((l) => (l.startsWith(`${name}{`) || l.startsWith(`${name} `)) && pairs.every((pair) => l.includes(pair)));
      return line === undefined ? undefined : Number(line.split(' ').at(-1));
    },
    introspections: (token) => stub.calls.filter((call) => call.form.get('token') === token).length,
    async applied(event, subId) {
      const { jti, set } = await tx.sign(event, subId, { now: clock.now() });
      tx.deliver(jti, set);
      await waitFor(() => tx.acked(jti), 5000, 'the SET acknowledged');
      return jti;
    },
  };
  try {
    if (!refuseStreams) await waitFor(() => service.revocations!.state === 'connected', 5000, 'the stream connected');
    await fn(ctx);
  } finally {
    await service.receiver!.stop();
    await served.stop();
    await tx.stop();
    await stub.stop();
  }
}

function opaque(ctx: Ctx, name: string, claims: { sub?: string; clientId?: string; act?: { sub: string } } = {}): string {
  const token = `${name}-${'x'.repeat(24)}`;
  ctx.stub.tokens.set(token, { clientId: claims.clientId ?? 'solutrix-api', scope: 'service.api', exp: ctx.exp, ...(claims.sub ? { sub: claims.sub } : {}), ...(claims.act ? { act: claims.act } : {}) });
  return token;
}

describe('revocation events (REVOCATION_EVENTS=ssf)', () => {
  it('a token-revoked event evicts that token at once, though while the stream is healthy its answer is kept past the 30 s bound', async () => {
    await withService({ INTROSPECTION_CACHE_MAX_TTL: '30' }, async (ctx) => {
      const token = opaque(ctx, 'revoked');
      assert.equal((await ctx.get(token)).status, 200);
      ctx.clock.advance(600_000);
      assert.equal((await ctx.get(token)).status, 200);
      assert.equal(ctx.introspections(token), 1, 'cached for 600 s: the stream is healthy');
      ctx.stub.tokens.delete(token); // the IDP revoked it
      await ctx.applied(...revokeToken(token));
      assert.deepEqual(await ctx.get(token), { status: 401, body: { error: 'invalid_token', error_description: 'the token is not active' } });
      assert.equal(ctx.introspections(token), 2);
      assert.ok(!ctx.lines.join('').includes(token), 'the token is never logged');
    });
  });

  it('INTROSPECTION_CACHE_MAX_TTL_WITH_EVENTS bounds the cache while the stream is healthy', async () => {
    await withService({ INTROSPECTION_CACHE_MAX_TTL_WITH_EVENTS: '120' }, async (ctx) => {
      const token = opaque(ctx, 'capped');
      await ctx.get(token);
      ctx.clock.advance(119_000);
      await ctx.get(token);
      assert.equal(ctx.introspections(token), 1);
      ctx.clock.advance(1_000);
      await ctx.get(token);
      assert.equal(ctx.introspections(token), 2);
    });
  });

  it('session-revoked, client-deleted and account-purged events evict only the entries they name (a session also its subject\'s exchanged tokens)', async () => {
    await withService({}, async (ctx) => {
      const tokens = {
        aliceWeb: opaque(ctx, 'alice-web', { sub: 'alice', clientId: 'web' }),
        aliceCli: opaque(ctx, 'alice-cli', { sub: 'alice', clientId: 'cli' }),
        bobWeb: opaque(ctx, 'bob-web', { sub: 'bob', clientId: 'web' }),
        machineWeb: opaque(ctx, 'machine-web', { clientId: 'web' }),
        carolOther: opaque(ctx, 'carol-other', { sub: 'carol', clientId: 'other' }),
        // Exchanged by service A for alice (RFC 8693): its client is A's, not the session's.
        aliceViaA: opaque(ctx, 'alice-via-a', { sub: 'alice', clientId: 'api-a', act: { sub: 'api-a' } }),
      };
      const refetched = async () => {
        const before = Object.fromEntries(Object.entries(tokens).map(([name, token]) => [name, ctx.introspections(token)]));
        for (const token of Object.values(tokens)) assert.equal((await ctx.get(token)).status, 200);
        return Object.entries(tokens).filter(([name, token]) => ctx.introspections(token) > before[name]!).map(([name]) => name);
      };
      assert.equal((await refetched()).length, 6, 'all introspected once');
      assert.deepEqual(await refetched(), [], 'then all cached');

      await ctx.applied(
        { [EVENT_TYPES.sessionRevoked]: {} },
        { format: 'complex', user: { format: 'iss_sub', iss: STUB_ISSUER, sub: 'alice' }, application: { format: 'opaque', id: 'web' } },
      );
      assert.deepEqual(await refetched(), ['aliceWeb', 'aliceViaA']);
      await ctx.applied({ [EVENT_TYPES.clientDeleted]: {} }, { format: 'opaque', id: 'web' });
      assert.deepEqual(await refetched(), ['aliceWeb', 'bobWeb', 'machineWeb']);
      await ctx.applied({ [EVENT_TYPES.accountPurged]: {} }, { format: 'iss_sub', iss: STUB_ISSUER, sub: 'alice' });
      assert.deepEqual(await refetched(), ['aliceWeb', 'aliceCli', 'aliceViaA']);
      for (const kind of ['session', 'client', 'subject']) assert.equal(await ctx.metric(`service_api_revocation_events_applied_total{kind="${kind}"}`), 1, kind);
      assert.equal(await ctx.metric('service_api_revocation_events_applied_total{kind="token"}'), 0);
    });
  });

  it('when polls fail the 30 s bound applies at once, counted from when each entry was cached, and the stream recovers', async () => {
    await withService({ INTROSPECTION_CACHE_MAX_TTL: '30' }, async (ctx) => {
      const token = opaque(ctx, 'fallback');
      await ctx.get(token);
      ctx.clock.advance(40_000);
      await ctx.get(token);
      assert.equal(ctx.introspections(token), 1, 'healthy: kept past 30 s');

      ctx.tx.mode = 'down';
      await waitFor(() => ctx.service.revocations!.state === 'fallback', 5000, 'fallback');
      assert.equal(await ctx.metric('service_api_revocation_events_state{state="fallback"}'), 1);
      assert.equal(await ctx.metric('service_api_revocation_events_state{state="connected"}'), 0);
      const health = await ctx.healthz();
      assert.deepEqual(health, { status: 'ok', revocation_events: { mode: 'ssf', state: 'fallback', since: new Date(ctx.clock.now()).toISOString() } });
      await ctx.get(token);
      assert.equal(ctx.introspections(token), 2, 'cached 40 s ago: past the 30 s bound at once');
      ctx.clock.advance(29_000);
      await ctx.get(token);
      assert.equal(ctx.introspections(token), 2, 'cached 29 s ago: still within it');
      ctx.clock.advance(1_000);
      await ctx.get(token);
      assert.equal(ctx.introspections(token), 3, 'cached 30 s ago: refetched');

      ctx.tx.mode = 'normal';
      await waitFor(() => ctx.service.revocations!.state === 'connected', 5000, 'recovery');
      assert.equal(((await ctx.healthz()).revocation_events as Record<string, unknown>).state, 'connected');
      // The stream queued events all along: an entry cached during the outage is covered again.
      ctx.clock.advance(300_000);
      await ctx.get(token);
      assert.equal(ctx.introspections(token), 3);
      const messages = ctx.lines.map((line) => (JSON.parse(line) as { msg: string }).msg);
      assert.ok(messages.includes('revocation events connected'));
      assert.ok(messages.some((msg) => msg.startsWith('revocation events fallback')));
      assert.ok(messages.includes('revocation events recovered'));
      assert.equal(ctx.tx.created.length, 1, 'the same stream');
    });
  });

  it('an answer cached before the stream existed keeps the 30 s bound once it connects', async () => {
    await withService(
      { INTROSPECTION_CACHE_MAX_TTL: '30' },
      async (ctx) => {
        const token = opaque(ctx, 'early');
        await waitFor(() => ctx.tx.tokenRequests.length > 0, 5000, 'a first attempt');
        assert.equal(ctx.service.revocations!.state, 'connecting');
        await ctx.get(token);
        ctx.tx.refuseStreams = false;
        await waitFor(() => ctx.service.revocations!.state === 'connected', 5000, 'the stream connected');
        ctx.clock.advance(30_000);
        await ctx.get(token);
        assert.equal(ctx.introspections(token), 2, 'a revocation before the stream existed would never be told');
        ctx.clock.advance(60_000);
        await ctx.get(token);
        assert.equal(ctx.introspections(token), 2, 'fetched while connected: kept');
      },
      { refuseStreams: true },
    );
  });

  it('an introspection answer that overlapped an applied event is not cached', async () => {
    await withService({}, async (ctx) => {
      const token = opaque(ctx, 'overlap', { sub: 'dave', clientId: 'web' });
      let release!: () => void;
      ctx.stub.gate = new Promise((resolve) => (release = resolve));
      const first = ctx.get(token);
      await ctx.stub.waitForCalls(1);
      // Applied while the IDP's answer is on its way: it may predate this revocation.
      await ctx.applied({ [EVENT_TYPES.accountPurged]: {} }, { format: 'iss_sub', iss: STUB_ISSUER, sub: 'dave' });
      release();
      ctx.stub.gate = undefined;
      assert.equal((await first).status, 200);
      await ctx.get(token);
      assert.equal(ctx.introspections(token), 2);
      await ctx.get(token);
      assert.equal(ctx.introspections(token), 2, 'the second answer is cached');
    });
  });

  it('a stream found gone (404) flushes the cache and a new stream is created', async () => {
    await withService({}, async (ctx) => {
      const token = opaque(ctx, 'gone');
      await ctx.get(token);
      await ctx.get(token);
      assert.equal(ctx.introspections(token), 1);
      ctx.tx.dropStream();
      await waitFor(() => ctx.tx.created.length === 2 && ctx.service.revocations!.state === 'connected', 5000, 'a new stream');
      await ctx.get(token);
      assert.equal(ctx.introspections(token), 2, 'flushed');
      assert.equal(ctx.service.receiver!.streamId, ctx.tx.created[1]);
    });
  });

  it('a stream-updated event reporting lost events flushes the cache and replaces the stream', async () => {
    await withService({}, async (ctx) => {
      const token = opaque(ctx, 'lost');
      await ctx.get(token);
      const old = ctx.tx.streamId!;
      // Not acknowledged on the old stream: the receiver deletes it and starts a new one.
      const { jti, set } = await ctx.tx.sign({ [EVENT_TYPES.streamUpdated]: { status: 'enabled', reason: 'events lost: queue purged' } }, { format: 'opaque', id: old }, { now: ctx.clock.now() });
      ctx.tx.deliver(jti, set);
      await waitFor(() => ctx.tx.created.length === 2 && ctx.tx.deleted.includes(old), 5000, 'the stream replaced');
      await ctx.get(token);
      assert.equal(ctx.introspections(token), 2, 'flushed');
    });
  });

  it('a SET signed with another key, for another audience, by another issuer, of another typ or from the future is not applied and is reported in setErrs', async () => {
    await withService({}, async (ctx) => {
      const token = opaque(ctx, 'forged');
      await ctx.get(token);
      const [event, subId] = revokeToken(token);
      const now = ctx.clock.now();
      const cases = [
        [{ key: await signingKey(ctx.tx.key.kid) }, 'invalid_key'],
        [{ aud: 'someone-else' }, 'invalid_audience'],
        [{ iss: 'http://evil.test/oauth' }, 'invalid_issuer'],
        [{ typ: 'JWT' }, 'invalid_request'],
        [{ iat: Math.floor(now / 1000) + 3600 }, 'invalid_request'],
      ] as const;
      for (const [options, err] of cases) {
        const { jti, set } = await ctx.tx.sign(event, subId, { now, ...options });
        ctx.tx.deliver(jti, set);
        await waitFor(() => ctx.tx.reported(jti) !== undefined, 5000, `setErrs for ${err}`);
        assert.equal(ctx.tx.reported(jti)!.err, err, JSON.stringify(options));
        assert.ok(!ctx.tx.acked(jti));
      }
      assert.equal((await ctx.get(token)).status, 200);
      assert.equal(ctx.introspections(token), 1, 'none of them evicted the token');
      assert.deepEqual(
        await Promise.all(['invalid_key', 'invalid_audience', 'invalid_issuer', 'invalid_request'].map((e) => ctx.metric(`service_api_revocation_sets_rejected_total{error="${e}"}`))),
        [1, 1, 1, 2],
      );
      const log = ctx.lines.join('');
      assert.equal(ctx.lines.filter((line) => line.includes('revocation event rejected')).length, cases.length);
      assert.ok(!log.includes(hashOf(token)) && !log.includes('eyJ'), 'neither the token (nor its hash) nor a SET is logged');
    });
  });

  it('a SET delivered again is acknowledged but not applied twice', async () => {
    await withService({}, async (ctx) => {
      const token = opaque(ctx, 'replayed');
      await ctx.get(token);
      const { jti, set } = await ctx.tx.sign(...revokeToken(token), { now: ctx.clock.now() });
      ctx.tx.deliver(jti, set);
      await waitFor(() => ctx.tx.acked(jti), 5000, 'first delivery acknowledged');
      await ctx.get(token);
      assert.equal(ctx.introspections(token), 2, 'evicted once');
      ctx.tx.deliver(jti, set);
      await waitFor(() => ctx.tx.polls.filter((p) => p.ack.includes(jti)).length === 2, 5000, 'second delivery acknowledged');
      await ctx.get(token);
      assert.equal(ctx.introspections(token), 2, 'the replay evicted nothing');
      assert.equal(await ctx.metric('service_api_revocation_sets_duplicate_total'), 1);
    });
  });

  it('JWT mode: a jwt-revoked event refuses that token by jti until its exp and evicts its cached principal; other tokens pass', async () => {
    await withService({ TOKEN_VERIFICATION: 'jwt' }, async (ctx) => {
      const iat = Math.floor(ctx.clock.now() / 1000);
      const claims = (jti: string) => ({ sub: 'alice', client_id: 'web', scope: 'service.api', iss: STUB_ISSUER, aud: AUDIENCE, iat, exp: iat + 600, jti });
      const revoked = await sign(ctx.tx.key, claims('jwt-1'));
      const other = await sign(ctx.tx.key, claims('jwt-2'));
      assert.equal((await ctx.get(revoked)).status, 200);
      assert.equal((await ctx.get(other)).status, 200);
      await ctx.applied({ [EVENT_TYPES.tokenRevoked]: { exp: iat + 600 } }, { format: 'oauth_token', token_type: 'access_token', token_identifier_alg: 'jti', token: 'jwt-1' });
      assert.deepEqual(await ctx.get(revoked), { status: 401, body: { error: 'invalid_token', error_description: 'the token has been revoked' } });
      assert.equal((await ctx.get(other)).status, 200);
      ctx.clock.advance(599_000);
      assert.equal((await ctx.get(revoked)).status, 401, 'still refused until its exp');
    });
  });

  it('requests its stream with the events it applies, poll delivery, and a token for <issuer origin>/ssf with scope ssf.manage', async () => {
    await withService({}, async (ctx) => {
      assert.deepEqual(ctx.tx.tokenRequests[0], { scope: 'ssf.manage', resource: 'http://idp.test/ssf' });
      assert.deepEqual(ctx.tx.createRequests, [
        {
          delivery: { method: 'urn:ietf:rfc:8936' },
          events_requested: [EVENT_TYPES.tokenRevoked, EVENT_TYPES.sessionRevoked, EVENT_TYPES.clientDeleted, EVENT_TYPES.accountPurged],
          description: `service-api pid ${process.pid}`,
        },
      ]);
      await waitFor(() => ctx.tx.polls.length > 0, 5000, 'a poll');
      assert.ok(ctx.tx.polls.every((p) => p.returnImmediately === false), 'long polls only');
    });
  });
});
