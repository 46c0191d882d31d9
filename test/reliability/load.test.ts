import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import { after, before, test } from 'node:test';
import { clientCredentialsToken, registerClient, startIdp, type RegisteredClient, type TestIdp } from '../support/idp.ts';
import { startService, type Service } from '../support/process.ts';
import { leaks, rssMb, track } from './stack.ts';
import { sleep, waitFor } from '../support/wait.ts';

// Requests at concurrency 100 against the Service API with valid, unknown and expired tokens.
// `npm test` sends 50,000, bounded to 90 s (a free 2-core machine needs ~30-60 s; a
// saturated one served 270-840 requests/s and stops at the bound). Override with
//   RELIABILITY_LOAD_REQUESTS=... RELIABILITY_LOAD_SECONDS=...
// The run stops at its time limit whatever the count; every answer it got is checked. The RSS bound is
// documented in SECURITY.md ("Measured memory bound").
export const RSS_BOUND_MB = 300;
const TOTAL = Number(process.env.RELIABILITY_LOAD_REQUESTS ?? 50_000);
// Far below what a free machine does (15,000 in ~20 s); a saturated one answered 1,000 in 17 s.
const MIN_ANSWERED = Math.min(TOTAL, 500);
let answeredTotal = 0;
const CONNECTIONS = 100;
// The load phase gets what is left of a 110 s budget after the processes started, 90 s at most.
const FILE_STARTED = Date.now();
const timeLimitMs = () =>
  process.env.RELIABILITY_LOAD_SECONDS ? Number(process.env.RELIABILITY_LOAD_SECONDS) * 1000 : Math.max(5000, Math.min(90_000, FILE_STARTED + 110_000 - Date.now()));

type Result = { requests: { total: number }; errors: number; timeouts: number; non2xx: number; duration: number; statusCodeStats: Record<string, { count: number }> };
type Instance = { stop(): void };
type RequestSpec = {
  method: string;
  path: string;
  setupRequest: (req: { headers?: Record<string, string> }) => { headers: Record<string, string>; method: string; path: string };
  onResponse: (status: number) => void;
};
const autocannon = createRequire(import.meta.url)('autocannon') as (
  options: Record<string, unknown> & { requests: RequestSpec[] },
  done: (err: Error | null, result: Result) => void,
) => Instance;

let idp: TestIdp;
let serviceApi: Service;
let introspector: RegisteredClient;
let loader: RegisteredClient;
const valid: string[] = [];
const expired: string[] = [];
const unknown = Array.from({ length: 20 }, () => randomBytes(32).toString('base64url'));

before(async () => {
  // Expired tokens are real: minted by the IDP with a 1 s lifetime, which then restarts with the default.
  const short = track(await startIdp({ env: { CLIENT_CREDENTIALS_TTL: '1' } }));
  introspector = await registerClient(short, 'service-introspector');
  loader = await registerClient(short, 'loader', ['service.api']);
  for (let i = 0; i < 10; i++) expired.push(await clientCredentialsToken(short, loader, 'service.api'));
  const { CLIENT_CREDENTIALS_TTL: _, ...env } = short.env;
  await short.stop();
  [idp, serviceApi] = await Promise.all([
    startIdp({ dataDir: short.dataDir, env, port: short.port }).then(track),
    startService('service-api/src/main.ts', {
      IDP_ISSUER: short.issuer, // the restarted IDP keeps its port, hence its issuer
      IDP_INTROSPECTION_URL: `${short.issuer}/introspect`,
      INTROSPECTION_CLIENT_ID: introspector.client_id,
      INTROSPECTION_CLIENT_SECRET: introspector.client_secret,
      // The IDP is slow, not down, when this machine is saturated: measured here, introspection calls
      // then exceed the default 2 s timeout and a few unknown tokens get a (correct) 503. This test is
      // about the Service API under load; outages have their own test.
      INTROSPECTION_TIMEOUT_MS: '15000',
    }).then(track),
  ]);
  for (let i = 0; i < 20; i++) valid.push(await clientCredentialsToken(idp, loader, 'service.api'));
  await sleep(1200); // every "expired" token is past its exp by now
});
after(() => Promise.all([idp?.stop(), serviceApi?.stop()]));

test(`${TOTAL} requests at concurrency ${CONNECTIONS} (valid, unknown, expired tokens): only the expected 200s and 401s; RSS stays under ${RSS_BOUND_MB} MB`, async () => {
  const pick = (list: string[]) => list[Math.floor(Math.random() * list.length)]!;
  const counts: Record<string, Record<number, number>> = { valid: {}, unknown: {}, expired: {} };
  const spec = (kind: 'valid' | 'unknown' | 'expired'): RequestSpec => {
    const list = kind === 'valid' ? valid : kind === 'unknown' ? unknown : expired;
    return {
      method: 'GET',
      path: '/v1/whoami',
      setupRequest: (req) => ({ ...req, method: 'GET', path: '/v1/whoami', headers: { ...req.headers, authorization: `Bearer ${pick(list)}` } }),
      onResponse: (status) => void (counts[kind]![status] = (counts[kind]![status] ?? 0) + 1),
    };
  };
  // Per connection, requests cycle through this list: 60% valid, 20% unknown, 20% expired.
  const requests = [spec('valid'), spec('unknown'), spec('valid'), spec('expired'), spec('valid'), spec('valid'), spec('unknown'), spec('valid'), spec('expired'), spec('valid')];

  const pid = serviceApi.child.pid!;
  const baseline = rssMb(pid);
  let peak = baseline;
  const sampler = setInterval(() => {
    try {
      peak = Math.max(peak, rssMb(pid));
    } catch {
      // the process is gone; the assertions below say so
    }
  }, 200);
  const started = performance.now();
  let instance: Instance | undefined;
  const TIME_LIMIT_MS = timeLimitMs();
  const result = await new Promise<Result>((resolve, reject) => {
    instance = autocannon(
      { url: serviceApi.origin, connections: CONNECTIONS, amount: TOTAL, timeout: 30, requests },
      (err, res) => (err ? reject(err) : resolve(res)),
    );
    setTimeout(() => instance?.stop(), TIME_LIMIT_MS).unref();
  });
  const seconds = (performance.now() - started) / 1000;
  clearInterval(sampler);
  peak = Math.max(peak, rssMb(pid));
  const after = rssMb(pid);

  console.log(
    `# load: ${result.requests.total} requests in ${seconds.toFixed(1)} s (${Math.round(result.requests.total / seconds)}/s), ` +
      `statuses ${JSON.stringify(counts)}, errors ${result.errors}, timeouts ${result.timeouts}; ` +
      `Service API RSS baseline ${baseline.toFixed(0)} MB, peak ${peak.toFixed(0)} MB, after ${after.toFixed(0)} MB`,
  );
  const warnings = serviceApi.output().split('\n').filter((l) => l.includes('"level":40') || l.includes('"level":50'));
  if (warnings.length) console.log(`# Service API warnings (${warnings.length}), first: ${warnings.slice(0, 3).join('\n# ')}`);
  assert.equal(serviceApi.child.exitCode, null, 'the Service API is alive');
  const answered = Object.values(counts).reduce((n, byStatus) => n + Object.values(byStatus).reduce((a, b) => a + b, 0), 0);
  answeredTotal = answered;
  if (answered < TOTAL) {
    // Stopped by the time limit: the requests in flight at that moment are aborted, not failed.
    console.log(`# load: stopped after ${TIME_LIMIT_MS / 1000} s with ${answered} of ${TOTAL} answered (machine too busy)`);
    assert.ok(result.errors + result.timeouts <= CONNECTIONS, `errors ${result.errors}, timeouts ${result.timeouts}`);
  } else {
    assert.equal(result.errors, 0, 'connection errors');
    assert.equal(result.timeouts, 0, 'timeouts');
  }
  assert.ok(answered >= MIN_ANSWERED, `at least ${MIN_ANSWERED} requests answered (${answered})`);
  assert.deepEqual(Object.keys(counts.valid!), ['200'], JSON.stringify(counts));
  assert.deepEqual(Object.keys(counts.unknown!), ['401'], JSON.stringify(counts));
  assert.deepEqual(Object.keys(counts.expired!), ['401'], JSON.stringify(counts));
  assert.ok(peak < RSS_BOUND_MB, `peak RSS ${peak.toFixed(0)} MB`);
});

test('after the load: no process printed a client secret, the admin token or a token', async () => {
  const logged = () => serviceApi.output().split('\n').filter((l) => l.includes('"msg":"request"')).length;
  // The last log lines may still be in the pipe: wait for them, bounded.
  await waitFor(() => logged() >= answeredTotal, 10_000, 'the request log lines').catch(() => {});
  const outputs = [
    { name: 'idp', text: idp.output() },
    { name: 'service-api', text: serviceApi.output() },
  ];
  assert.ok(logged() >= answeredTotal, `the Service API logged the requests (${logged()} of ${answeredTotal})`);
  const needles = [
    { kind: 'client secret', value: introspector.client_secret },
    { kind: 'client secret', value: loader.client_secret },
    { kind: 'admin token', value: idp.adminToken },
    ...[...valid, ...expired, ...unknown].map((value) => ({ kind: 'token', value })),
  ];
  assert.deepEqual(leaks(outputs, needles), []);
});
