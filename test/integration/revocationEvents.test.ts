// Shared Signals end to end (issue 16), in the access-token format of this pass (opaque: the Service
// API's introspection cache; jwt: its local verification and jti deny-list). One seeded IDP and two
// real Service API processes with REVOCATION_EVENTS=ssf and caches of 600 s: a refusal within a
// second can only come from an event, not from a cache expiring.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { decodeProtectedHeader } from 'jose';
import type { RegisteredClient, TestIdp } from '../support/idp.ts';
import type { Service } from '../support/process.ts';
import {
  eventsState,
  EVENTS_ON,
  listStreams,
  revoke,
  ssfToken,
  timeToRefusal,
  whoamiStatus,
} from '../support/ssf.ts';
import { sleep, waitFor } from '../support/wait.ts';
import { logBarrier } from '../reliability/stack.ts';
import { AUDIENCE, MODE, requestLines, serviceApiEnv, startSeededIdp, startServiceApi, token } from './stack.ts';

/** What the issue promises: revocation reaches every Service API in under a second. */
const WITHIN_MS = 1000;
// A short long-poll so that a Service API frozen for longer than one poll has really missed its answer.
const LONG_POLL_SECONDS = 2;

let idp: TestIdp;
let client: (id: string) => RegisteredClient;
let apis: Service[] = [];
let manage: string;

const serviceToken = () => token(idp, client('solutrix-api'), { scope: 'service.api', ...(MODE === 'jwt' ? { resource: AUDIENCE } : {}) });
const introspections = () => requestLines(idp, 'POST', '/oauth/introspect').length;
before(async () => {
  let credentialsDir: string;
  ({ idp, client, credentialsDir } = await startSeededIdp(MODE, { SSF_LONG_POLL_SECONDS: String(LONG_POLL_SECONDS) }));
  manage = await ssfToken(idp, client('service-introspector'));
  assert.deepEqual(await listStreams(idp, manage), []);
  apis = await Promise.all([0, 1].map(() => startServiceApi(serviceApiEnv(idp, credentialsDir, { ...EVENTS_ON }))));
  // Each process creates its own stream at start: revocations before that are not its business.
  await waitFor(async () => (await listStreams(idp, manage)).length === 2, 15_000, 'both Service APIs to create their streams');
  for (const api of apis) await waitFor(async () => (await eventsState(api.origin)) === 'connected', 15_000, 'the Service API to report its stream connected');
});
after(async () => {
  await Promise.all(apis.map((api) => api.stop()));
  await idp?.stop();
});

describe(`revocation events (ACCESS_TOKEN_FORMAT=${MODE})`, () => {
  it(`a revoked token is refused by both Service APIs within ${WITHIN_MS} ms with caches of 600 s; a token not revoked keeps working, from the cache`, async () => {
    const [revoked, kept] = [await serviceToken(), await serviceToken()];
    if (MODE === 'jwt') assert.equal(decodeProtectedHeader(revoked).typ, 'at+jwt');
    for (const api of apis) for (const t of [revoked, kept]) assert.equal(await whoamiStatus(api.origin, t), 200);
    // Cached: asking again reaches no IDP (so the refusal below is not an uncached introspection).
    await logBarrier(idp);
    const before = introspections();
    for (const api of apis) for (const t of [revoked, kept]) assert.equal(await whoamiStatus(api.origin, t), 200);
    await logBarrier(idp);
    assert.equal(introspections(), before, 'answered from the cache');

    assert.equal(await revoke(idp, client('solutrix-api'), revoked), 200);
    const since = performance.now();
    const times = await Promise.all(apis.map((api) => timeToRefusal(api.origin, revoked, since)));
    for (const [i, t] of times.entries()) {
      assert.ok(t.ms !== undefined && t.ms < WITHIN_MS, `Service API ${i}: ${t.ms === undefined ? `still ${t.last} after 5 s` : `${Math.round(t.ms)} ms`}`);
    }
    console.log(`# revoke → 401 (${MODE}): ${times.map((t) => `${Math.round(t.ms!)} ms`).join(', ')}`);
    for (const api of apis) assert.equal(await whoamiStatus(api.origin, kept), 200);
  });

  // Why SIGSTOP: a Service API killed and restarted is a new process with an empty cache and a new
  // stream, so its 401 would come from a fresh introspection (opaque) and prove nothing about events;
  // SIGTERM even deletes its stream. A frozen process keeps its cache, its stream and its connection,
  // misses whole long polls while the event waits in the IDP's queue, and can learn of the revocation
  // only from that queued event when it runs again.
  it(`an event emitted while a Service API is frozen (SIGSTOP, longer than a long poll) is applied within ${WITHIN_MS} ms of it resuming`, async () => {
    const [frozen, running] = apis as [Service, Service];
    const t = await serviceToken();
    for (const api of apis) assert.equal(await whoamiStatus(api.origin, t), 200);
    frozen.child.kill('SIGSTOP');
    let resumed = false;
    try {
      assert.equal(await revoke(idp, client('solutrix-api'), t), 200);
      const since = performance.now();
      const other = await timeToRefusal(running.origin, t, since);
      assert.ok(other.ms !== undefined && other.ms < WITHIN_MS, `the running Service API: ${other.ms ?? `still ${other.last}`}`);
      // A fixed wait on another process: the frozen one must sit through more than one long poll.
      await sleep(LONG_POLL_SECONDS * 1000 + 1000);
      frozen.child.kill('SIGCONT');
      resumed = true;
      const back = await timeToRefusal(frozen.origin, t, performance.now());
      assert.ok(back.ms !== undefined && back.ms < WITHIN_MS, `the resumed Service API: ${back.ms === undefined ? `still ${back.last} after 5 s` : `${Math.round(back.ms)} ms`}`);
    } finally {
      if (!resumed) frozen.child.kill('SIGCONT');
    }
  });
});
