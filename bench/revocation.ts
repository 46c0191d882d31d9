// Phase 6: Shared Signals (issue 16), with real IDP and Service API processes (their main.ts).
// 6a. Revocation → refusal: for each of N revocations, the time from /oauth/revoke answering to the
//     Service API first answering 401 for that token (its cache would keep it for 600 s).
// 6b. IDP introspections for 10,000 requests over a token's life, events on vs off, counted at the
//     IDP (its request log). Time is scaled: a BENCH_TOKEN_LIFE-second token (default 60) with the
//     cache bound at 1/20 of it keeps today's 10 min : 30 s ratio; BENCH_TOKEN_LIFE=600 runs it for real.
import { clientCredentialsToken, registerClient, startIdp, type TestIdp } from '../test/support/idp.ts';
import { startService, type Service } from '../test/support/process.ts';
import { listStreams, revoke, ssfToken, timeToRefusal, whoamiStatus } from '../test/support/ssf.ts';
import { waitFor } from '../test/support/wait.ts';

/** One side of 6b. `unsent`: requests the loop could not send before the token's end (the machine was too slow for the pace). */
type Side = { introspections: number; non2xx: number; statuses: Record<string, number>; unsent: number; elapsedSeconds: number; maxBehindMs: number };

export type RevocationResults = {
  latency: { revocations: number; p50: number; p99: number; max: number; notRefused: number; floorP50: number };
  tokenLife: {
    requests: number;
    tokenLifeSeconds: number;
    runSeconds: number;
    cacheBoundSeconds: number;
    scaled: boolean;
    on: Side;
    off: Side & { expected: number };
  };
};

const introspectLines = (idp: TestIdp) => idp.output().split('\n').filter((line) => line.includes('"path":"/oauth/introspect"')).length;
const quantile = (sorted: number[], q: number) => sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)]!;
const round1 = (x: number) => Math.round(x * 10) / 10;

/**
 * `requests` GETs spread evenly over `spanMs` (request i is sent at i × spanMs / requests, at most 50
 * in flight): a token's life compressed, not a load test. None is sent after `deadline` (a
 * performance.now() time, the token's end): on a loaded machine the 50 in flight answer slowly, the
 * loop falls behind its schedule, and a request sent after the token's exp is rightly refused (401
 * "the token is not active") and re-introspected — which once made ~71 % 401s look like a cache bug.
 * Returns the count of each status (0: failed), the requests left unsent at the deadline, the run's
 * real length and how far behind schedule the last request sent was.
 */
async function paced(
  url: string,
  token: string,
  requests: number,
  spanMs: number,
  deadline: number,
): Promise<{ statuses: Record<string, number>; unsent: number; elapsedMs: number; maxBehindMs: number }> {
  const statuses: Record<string, number> = {};
  const started = performance.now();
  const inFlight = new Set<Promise<void>>();
  let sent = 0;
  let maxBehindMs = 0;
  for (let i = 0; i < requests; i++) {
    const due = started + (i * spanMs) / requests;
    const wait = due - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    if (inFlight.size >= 50) await Promise.race(inFlight);
    if (performance.now() >= deadline) break;
    maxBehindMs = Math.max(maxBehindMs, performance.now() - due);
    sent += 1;
    const request: Promise<void> = whoamiStatus(url.replace(/\/v1\/whoami$/, ''), token)
      .then((status) => {
        statuses[status] = (statuses[status] ?? 0) + 1;
      })
      .catch(() => {
        statuses[0] = (statuses[0] ?? 0) + 1;
      })
      .finally(() => inFlight.delete(request));
    inFlight.add(request);
  }
  await Promise.all(inFlight);
  return { statuses, unsent: requests - sent, elapsedMs: performance.now() - started, maxBehindMs };
}

/** An IDP (request lines logged: they are the count) with a Service API process on it. */
async function stackWith(serviceEnv: Record<string, string>, idpEnv: Record<string, string>, logLevel: string) {
  const idp = await startIdp({ env: { LOG_LEVEL: 'info', ...idpEnv } });
  let api: Service | undefined;
  try {
    const introspector = await registerClient(idp, 'service-introspector', ['ssf.manage']);
    const caller = await registerClient(idp, 'bench-caller', ['service.api']);
    api = await startService('service-api/src/main.ts', {
      LOG_LEVEL: logLevel,
      IDP_ISSUER: idp.issuer,
      IDP_INTROSPECTION_URL: `${idp.issuer}/introspect`,
      INTROSPECTION_CLIENT_ID: introspector.client_id,
      INTROSPECTION_CLIENT_SECRET: introspector.client_secret,
      ...serviceEnv,
    });
    if (serviceEnv.REVOCATION_EVENTS === 'ssf') {
      const manage = await ssfToken(idp, introspector);
      await waitFor(async () => (await listStreams(idp, manage)).length === 1, 20_000, 'the Service API to create its stream');
    }
    return { idp, api, caller, stop: () => Promise.all([api!.stop(), idp.stop()]) };
  } catch (err) {
    await Promise.all([api?.stop(), idp.stop()]);
    throw err;
  }
}

async function latency(revocations: number, logLevel: string, progress: (line: string) => void): Promise<RevocationResults['latency']> {
  const s = await stackWith({ REVOCATION_EVENTS: 'ssf', INTROSPECTION_CACHE_MAX_TTL: '600' }, { CLIENT_CREDENTIALS_TTL: '600' }, logLevel);
  try {
    progress(`6a. revocation → refusal, ${revocations} revocations (Service API cache bound 600 s)`);
    const tokens: string[] = [];
    for (let i = 0; i < revocations; i++) tokens.push(await clientCredentialsToken(s.idp, s.caller, 'service.api'));
    // The floor: one cached /v1/whoami round trip, which every refusal time includes at least once.
    const trips: number[] = [];
    for (const t of tokens) {
      for (let k = 0; k < 3; k++) {
        const started = performance.now();
        if ((await whoamiStatus(s.api.origin, t)) !== 200) throw new Error('a fresh token was refused before its revocation');
        if (k > 0) trips.push(performance.now() - started);
      }
    }
    const times: number[] = [];
    let notRefused = 0;
    for (const t of tokens) {
      if ((await revoke(s.idp, s.caller, t)) !== 200) throw new Error('revocation failed');
      const refusal = await timeToRefusal(s.api.origin, t, performance.now(), 5000);
      if (refusal.ms === undefined) notRefused += 1;
      else times.push(refusal.ms);
    }
    times.sort((a, b) => a - b);
    trips.sort((a, b) => a - b);
    progress(`   p50 ${round1(quantile(times, 0.5))} ms, p99 ${round1(quantile(times, 0.99))} ms, max ${round1(times.at(-1)!)} ms; ${notRefused} not refused`);
    return {
      revocations,
      p50: round1(quantile(times, 0.5)),
      p99: round1(quantile(times, 0.99)),
      max: round1(times.at(-1)!),
      notRefused,
      floorP50: round1(quantile(trips, 0.5)),
    };
  } finally {
    await s.stop();
  }
}

async function tokenLife(tokenLifeSeconds: number, requests: number, logLevel: string, progress: (line: string) => void): Promise<RevocationResults['tokenLife']> {
  const cacheBoundSeconds = tokenLifeSeconds / 20;
  const runSeconds = round1(tokenLifeSeconds * 0.95); // inside the token's life whatever the skew of its issue
  const idpEnv = { CLIENT_CREDENTIALS_TTL: String(tokenLifeSeconds) };
  const bound = String(Math.round(cacheBoundSeconds));
  // One after the other: two IDPs starting at once on a busy 2-core machine miss their health deadline.
  const on = await stackWith({ REVOCATION_EVENTS: 'ssf', INTROSPECTION_CACHE_MAX_TTL: bound }, idpEnv, logLevel);
  const off = await stackWith({ REVOCATION_EVENTS: 'off', INTROSPECTION_CACHE_MAX_TTL: bound }, idpEnv, logLevel).catch(async (err: unknown) => {
    await on.stop();
    throw err;
  });
  try {
    progress(`6b. ${requests.toLocaleString('en-US')} requests over ${runSeconds} s of a ${tokenLifeSeconds} s token, events on and off side by side (cache bound ${bound} s)`);
    const run = async (s: typeof on) => {
      // The deadline, one second before the token's end, is taken before the token is asked for: a
      // request sent by then reaches the Service API inside the token's life; the loop may lag its
      // 57 s schedule by up to 2 s (a few hundred ms is usual) without losing requests.
      const deadline = performance.now() + (tokenLifeSeconds - 1) * 1000;
      const token = await clientCredentialsToken(s.idp, s.caller, 'service.api');
      const before = introspectLines(s.idp);
      const { statuses, unsent, elapsedMs, maxBehindMs } = await paced(`${s.api.origin}/v1/whoami`, token, requests, runSeconds * 1000, deadline);
      await new Promise((r) => setTimeout(r, 300)); // the IDP's last request line
      const failed = Object.entries(statuses).filter(([status]) => status !== '200').reduce((sum, [, count]) => sum + count, 0);
      if (unsent > 0) progress(`   ${unsent} requests not sent before the token's end: the machine is too loaded for the pace (the run fell ${round1(maxBehindMs)} ms behind)`);
      return { introspections: introspectLines(s.idp) - before, non2xx: failed, statuses, unsent, elapsedSeconds: round1(elapsedMs / 1000), maxBehindMs: Math.round(maxBehindMs) };
    };
    const [onResult, offResult] = await Promise.all([run(on), run(off)]);
    return {
      requests,
      tokenLifeSeconds,
      runSeconds,
      cacheBoundSeconds: Number(bound),
      scaled: tokenLifeSeconds !== 600,
      on: onResult,
      off: { ...offResult, expected: Math.ceil(runSeconds / Number(bound)) },
    };
  } finally {
    await Promise.all([on.stop(), off.stop()]);
  }
}

export async function benchRevocation({
  revocations,
  tokenLifeSeconds,
  logLevel,
  progress,
}: {
  revocations: number;
  tokenLifeSeconds: number;
  logLevel: string;
  progress: (line: string) => void;
}): Promise<RevocationResults> {
  return { latency: await latency(revocations, logLevel, progress), tokenLife: await tokenLife(tokenLifeSeconds, 10_000, logLevel, progress) };
}
