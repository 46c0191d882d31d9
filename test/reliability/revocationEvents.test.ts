// Shared Signals under offboarding and failure (issue 16), opaque tokens: one seeded IDP, two real
// Service API processes with REVOCATION_EVENTS=ssf. `events` caches for 600 s, so a refusal within a
// second is an event's doing; `fallback` has the old bound INTROSPECTION_CACHE_MAX_TTL at 2 s, to
// see it apply again while the IDP is down (and stop applying once the stream is healthy again).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { adminRequest, registerClient, type RegisteredClient, type TestIdp } from '../support/idp.ts';
import type { Service } from '../support/process.ts';
import { awaitSet, createStream, EVENTS_ON, eventsState, listStreams, revoke, ssfToken, timeToRefusal, tokenHash, verifySet, whoamiStatus, type Json } from '../support/ssf.ts';
import { poll, sleep, waitFor } from '../support/wait.ts';
import { requestLines, serviceApiEnv, startSeededIdp, startServiceApi, token } from '../integration/stack.ts';
import { codeFlow, logBarrier, track } from './stack.ts';

const WITHIN_MS = 1000;
const FALLBACK_BOUND_S = 2;
const REDIRECT_URI = 'http://127.0.0.1:9/callback'; // the seed's solutrix-web redirect; never fetched
const alice = { username: 'alice', password: 'alice-local-only' }; // scripts/seed.json

let idp: TestIdp;
let client: (id: string) => RegisteredClient;
let events: Service;
let fallback: Service;
let manage: string;

const machineToken = (c: RegisteredClient) => token(idp, c, { scope: 'service.api' });
const userTokens = async (c: RegisteredClient, user: { username: string; password: string }) => {
  const { tokens } = await codeFlow(idp, c, REDIRECT_URI, user, 'openid offline_access service.api', { prompt: 'consent' });
  return { access: tokens.access_token as string, refresh: tokens.refresh_token as string | undefined };
};
const introspections = () => requestLines(idp, 'POST', '/oauth/introspect').length;

/** Every `refused` token is refused by `api` within WITHIN_MS of `since`; every `kept` one still works. */
async function assertRefused(api: Service, since: number, refused: Record<string, string>, kept: Record<string, string>) {
  const times = await Promise.all(Object.values(refused).map((t) => timeToRefusal(api.origin, t, since)));
  const report = Object.keys(refused).map((name, i) => `${name}: ${times[i]!.ms === undefined ? `still ${times[i]!.last} after 5 s` : `${Math.round(times[i]!.ms!)} ms`}`);
  assert.ok(times.every((t) => t.ms !== undefined && t.ms < WITHIN_MS), report.join('; '));
  for (const [name, t] of Object.entries(kept)) assert.equal(await whoamiStatus(api.origin, t), 200, `${name} still works`);
  return report;
}

/** The receiver's own log lines (state changes, never a token), for a failure message. */
const receiverLog = (api: Service) =>
  api
    .output()
    .split('\n')
    .filter((line) => line.includes('revocation event'))
    .map((line) => {
      const { msg, reason, was } = JSON.parse(line) as { msg?: string; reason?: string; was?: string };
      return [msg, reason, was].filter(Boolean).join(' / ');
    })
    .join('; ');

async function warm(api: Service, tokens: Record<string, string>) {
  for (const [name, t] of Object.entries(tokens)) assert.equal(await whoamiStatus(api.origin, t), 200, `${name} works before`);
}

before(async () => {
  let credentialsDir: string;
  ({ idp, client, credentialsDir } = await startSeededIdp('opaque', { SSF_LONG_POLL_SECONDS: '5', IDP_FIRST_PARTY_CLIENTS: 'solutrix-web,doomed-web' }));
  track(idp);
  manage = await ssfToken(idp, client('service-introspector'));
  [events, fallback] = (
    await Promise.all([
      startServiceApi(serviceApiEnv(idp, credentialsDir, { ...EVENTS_ON })),
      startServiceApi(serviceApiEnv(idp, credentialsDir, { ...EVENTS_ON, INTROSPECTION_CACHE_MAX_TTL: String(FALLBACK_BOUND_S) })),
    ])
  ).map(track) as [Service, Service];
  await waitFor(async () => (await listStreams(idp, manage)).length === 2, 15_000, 'both Service APIs to create their streams');
  for (const api of [events, fallback]) await waitFor(async () => (await eventsState(api.origin)) === 'connected', 15_000, 'the Service API to report its stream connected');
});
after(async () => {
  await Promise.all([events?.stop(), fallback?.stop()]);
  await idp?.stop();
});

describe('offboarding reaches the Service API within a second (caches of 600 s)', () => {
  test("deleting a client refuses its machine and user tokens within 1 s; another client's tokens keep working", async () => {
    const doomed = await registerClient(idp, 'doomed', ['service.api']);
    const doomedWeb = await registerClient(idp, 'doomed-web', ['openid', 'offline_access', 'service.api'], { redirect_uris: [REDIRECT_URI], grant_types: ['authorization_code', 'refresh_token'] });
    const refused = { 'machine token of doomed': await machineToken(doomed), 'user token of doomed-web': (await userTokens(doomedWeb, alice)).access };
    const kept = { 'machine token of solutrix-api': await machineToken(client('solutrix-api')), 'user token of solutrix-web': (await userTokens(client('solutrix-web'), alice)).access };
    await warm(events, { ...refused, ...kept });
    assert.equal((await adminRequest(idp, 'DELETE', '/clients/doomed')).status, 204);
    const since = performance.now();
    assert.equal((await adminRequest(idp, 'DELETE', '/clients/doomed-web')).status, 204);
    console.log(`# client deletion: ${(await assertRefused(events, since, refused, kept)).join('; ')}`);
  });

  test("deleting a user (admin API) refuses every token of theirs, of every grant, within 1 s; another user's token keeps working", async () => {
    const dave = { username: `dave-${Date.now()}`, password: 'dave-local-only-password' };
    assert.equal((await adminRequest(idp, 'POST', '/users', dave)).status, 201);
    const first = await userTokens(client('solutrix-web'), dave);
    const second = await userTokens(client('solutrix-web'), dave);
    const refused = { "dave's first grant": first.access, "dave's second grant": second.access };
    const kept = { "alice's token": (await userTokens(client('solutrix-web'), alice)).access };
    await warm(events, { ...refused, ...kept });
    assert.equal((await adminRequest(idp, 'DELETE', `/users/${dave.username}`)).status, 204);
    console.log(`# user deletion: ${(await assertRefused(events, performance.now(), refused, kept)).join('; ')}`);
  });

  test("sign-out (Solutrix revokes the refresh token, which ends the grant) refuses that grant's access token within 1 s; other grants keep working", async () => {
    const web = client('solutrix-web');
    const signedOut = await userTokens(web, alice);
    assert.ok(signedOut.refresh, 'the code flow with offline_access gave a refresh token');
    const other = await userTokens(web, alice);
    const machine = await machineToken(client('solutrix-api'));
    await warm(events, { signedOut: signedOut.access, other: other.access, machine });
    assert.equal(await revoke(idp, web, signedOut.refresh!, 'refresh_token'), 200);
    const report = await assertRefused(events, performance.now(), { "the signed-out grant's access token": signedOut.access }, { 'another grant of the same user': other.access, 'a machine token': machine });
    console.log(`# sign-out: ${report.join('; ')}`);
  });
});

describe('failures lose nothing', () => {
  test('the IDP killed (SIGKILL) right after a revocation answered and restarted on its data dir: the queued event is delivered and applied, without a cache flush', async () => {
    const stream = await createStream(idp, manage, 'restart check');
    const [revoked, kept] = [await machineToken(client('solutrix-api')), await machineToken(client('solutrix-api'))];
    await warm(events, { revoked, kept });
    assert.equal(await revoke(idp, client('solutrix-api'), revoked), 200);
    idp = track(await idp.restart('SIGKILL'));
    const since = performance.now();
    // The stream and its queued event survived, durable before the revocation was answered.
    const got = await awaitSet(idp, manage, stream.stream_id, (p: Json) => (p.sub_id as Json | undefined)?.token === tokenHash(revoked));
    assert.ok(got, 'the queued SET is still there after the restart');
    await verifySet(idp, got.set, 'service-introspector');
    // The Service API reconnects (its backoff doubles up to 30 s while the IDP is away) and the event
    // evicts the revoked token: at most that token is asked about again. A cache flush, the only
    // other way a 600 s cache would let go of it, would re-introspect the kept token as well.
    const refusal = await timeToRefusal(events.origin, revoked, since, 45_000);
    assert.ok(refusal.ms !== undefined, `still ${refusal.last} 45 s after the restart; Service API said: ${receiverLog(events)}`);
    assert.equal(await whoamiStatus(events.origin, kept), 200);
    await logBarrier(idp);
    assert.ok(introspections() <= 1, `the restarted IDP was asked ${introspections()} times (a flush?); Service API said: ${receiverLog(events)}`);
    console.log(`# IDP restart: revoked token refused ${Math.round(refusal.ms!)} ms after the IDP was healthy again`);
  });

  test(`while the IDP is down the old bound (${FALLBACK_BOUND_S} s) applies again; once it is back, entries outlive it again and revocations arrive`, async () => {
    // The test before restarted the IDP: this Service API may still be in its reconnection backoff.
    assert.equal(await poll(() => eventsState(fallback.origin), (st) => st === 'connected', { timeoutMs: 45_000, intervalMs: 100 }), 'connected', `the stream is healthy to begin with; Service API said: ${receiverLog(fallback)}`);
    const t = await machineToken(client('solutrix-api'));
    await warm(fallback, { t });
    // Healthy stream: cached past the old bound without asking the IDP.
    await sleep(FALLBACK_BOUND_S * 1000 + 500);
    await logBarrier(idp);
    const before = introspections();
    assert.equal(await whoamiStatus(fallback.origin, t), 200);
    await logBarrier(idp);
    assert.equal(introspections(), before, `cached beyond ${FALLBACK_BOUND_S} s while the stream is healthy`);

    await idp.stop('SIGKILL');
    // The entry is older than the bound: with the IDP unreachable it is not served from the cache
    // any more, the Service API must ask and cannot (503, never 401).
    const statuses = await poll(() => whoamiStatus(fallback.origin, t), (s) => s !== 200, { timeoutMs: 5000, intervalMs: 50 });
    assert.equal(statuses, 503, 'the cached entry stops being served once the stream is down');

    assert.equal(await poll(() => eventsState(fallback.origin), (st) => st === 'fallback', { timeoutMs: 5000 }), 'fallback', '/healthz says so');

    idp = track(await idp.restart());
    const back = await poll(() => whoamiStatus(fallback.origin, t), (s) => s === 200, { timeoutMs: 10_000, intervalMs: 100 });
    assert.equal(back, 200, 'recovered');
    assert.equal(await poll(() => eventsState(fallback.origin), (st) => st === 'connected', { timeoutMs: 45_000, intervalMs: 100 }), 'connected', `the stream reconnects (backoff up to 30 s); Service API said: ${receiverLog(fallback)}`);
    // Healthy again: an entry outlives the old bound again, and a revocation arrives within a second.
    const t2 = await machineToken(client('solutrix-api'));
    await warm(fallback, { t2 });
    await sleep(FALLBACK_BOUND_S * 1000 + 500);
    await logBarrier(idp);
    const n = introspections();
    assert.equal(await whoamiStatus(fallback.origin, t2), 200);
    await logBarrier(idp);
    assert.equal(introspections(), n, `cached beyond ${FALLBACK_BOUND_S} s again after recovery; Service API said: ${receiverLog(fallback)}`);
    const u = await machineToken(client('solutrix-api'));
    await warm(fallback, { u });
    assert.equal(await revoke(idp, client('solutrix-api'), u), 200);
    const refusal = await timeToRefusal(fallback.origin, u, performance.now());
    assert.ok(refusal.ms !== undefined && refusal.ms < WITHIN_MS, `after recovery: ${refusal.ms ?? `still ${refusal.last}`}`);
  });
});


