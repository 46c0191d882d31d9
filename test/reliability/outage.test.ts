import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { clientCredentialsToken, postForm, registerClient, startIdp, type RegisteredClient } from '../support/idp.ts';
import { drive, leaks, loadFor, startStack, tally, type Sample, type Stack } from './stack.ts';
import { poll } from '../support/wait.ts';

// The IDP dies (SIGKILL) while Solutrix and direct callers drive load through the Service API, then
// comes back on the same data dir and port. Nothing a caller holds may be lost.
let stack: Stack;
let loader: RegisteredClient;
const tokens: string[] = [];
let cached: string[];
let uncached: string[];

before(async () => {
  // A cache bound well above the outage, so "cached" means cached for the whole test.
  stack = await startStack({ solutrix: true, serviceEnv: { INTROSPECTION_CACHE_MAX_TTL: '120' } });
  loader = await registerClient(stack.idp, 'loader', ['service.api']);
  stack.secrets.push(loader.client_secret);
  for (let i = 0; i < 16; i++) tokens.push(await clientCredentialsToken(stack.idp, loader, 'service.api'));
  cached = tokens.slice(0, 8);
  uncached = tokens.slice(8);
  for (const token of cached) {
    const res = await fetch(`${stack.serviceApi.origin}/v1/whoami`, { headers: { authorization: `Bearer ${token}` } });
    assert.equal(res.status, 200);
  }
  assert.equal((await fetch(`${stack.solutrix!.origin}/v1/service/whoami`)).status, 200);
});
after(() => stack?.stop());

const mix = (i: number): { url: string; token?: string; label: string } => {
  switch (i % 3) {
    case 0:
      return { url: `${stack.solutrix!.origin}/v1/service/whoami`, label: 'solutrix' };
    case 1:
      return { url: `${stack.serviceApi.origin}/v1/whoami`, token: cached[i % cached.length], label: 'cached' };
    default:
      return { url: `${stack.serviceApi.origin}/v1/whoami`, token: uncached[i % uncached.length], label: 'uncached' };
  }
};

test('every process listens only on the address it was given (HOST=127.0.0.1): 127.0.0.2 is refused', async () => {
  for (const service of [stack.idp, stack.serviceApi, stack.solutrix!]) {
    const refused = await new Promise<boolean>((resolve) => {
      const socket = connect({ host: '127.0.0.2', port: service.port });
      socket.on('connect', () => (socket.destroy(), resolve(false)));
      socket.on('error', () => resolve(true));
    });
    assert.ok(refused, `port ${service.port} (${service.child.spawnargs.at(-1)}) accepts connections on every interface`);
  }
});

describe('IDP outage under load', () => {
  let during: Sample[];

  test('while the IDP is dead: cached tokens and Solutrix get 200, uncached tokens 503 + Retry-After, never 401', async () => {
    await stack.idp.stop('SIGKILL');
    assert.equal(stack.idp.child.signalCode, 'SIGKILL');
    during = await loadFor(6, mix, { minMs: 2500, maxMs: 6000, minSamples: 30 });
    const counts = tally(during);
    assert.ok(during.length >= 12, `load was driven (${during.length} requests)`);
    assert.deepEqual(Object.keys(counts.solutrix ?? {}), ['200'], `solutrix: ${JSON.stringify(counts)}`);
    assert.deepEqual(Object.keys(counts.cached ?? {}), ['200'], `cached: ${JSON.stringify(counts)}`);
    assert.deepEqual(Object.keys(counts.uncached ?? {}), ['503'], `uncached: ${JSON.stringify(counts)}`);
    for (const s of during.filter((s) => s.label === 'uncached')) assert.match(s.retryAfter ?? '', /^\d+$/, 'Retry-After on every 503');
  });

  test('after the IDP restarts on the same data dir and port, requests succeed (no failure later than 1 s after it is healthy)', async () => {
    const stop = new AbortController();
    const samples: Sample[] = [];
    const load = drive(6, mix, { signal: stop.signal, maxRequests: 50_000, samples });
    const restarted = await startIdp({ dataDir: stack.idp.dataDir, env: stack.idp.env, port: stack.idp.port });
    const healthyAt = Date.now();
    stack.adopt(restarted);
    // At least 2.5 s and 30 answers after the 1 s window, at most 8 s (a saturated machine is slow).
    await poll(() => Date.now() >= healthyAt + 3500 && samples.filter((s) => s.at > healthyAt + 1000).length >= 30, Boolean, { timeoutMs: 8000, intervalMs: 100 });
    stop.abort();
    await load;

    const late = samples.filter((s) => s.at > healthyAt + 1000);
    const lateFailures = late.filter((s) => s.status !== 200);
    assert.ok(late.length >= 12, `load continued after the restart (${late.length} requests)`);
    assert.deepEqual(tally(lateFailures), {}, `failures later than 1 s after the IDP was healthy; all after: ${JSON.stringify(tally(late))}`);
    assert.equal(samples.filter((s) => s.status === 401).length, 0, 'no 401 at any time');
    const recovered = samples.find((s) => s.label === 'uncached' && s.status === 200);
    assert.ok(recovered, 'uncached tokens work again');
    console.log(
      `# outage: ${during.length} requests while down ${JSON.stringify(tally(during))}; across restart ${JSON.stringify(tally(samples))}; ` +
        `first uncached 200 ${recovered.at - healthyAt} ms after healthy`,
    );
  });

  test('every client and every unexpired token still works after the restart', async () => {
    for (const token of tokens) {
      const res = await fetch(`${stack.serviceApi.origin}/v1/reports`, { headers: { authorization: `Bearer ${token}` } });
      assert.equal(res.status, 200);
    }
    const introspection = await postForm(`${stack.idp.issuer}/introspect`, stack.introspector, { token: uncached[0]! });
    assert.equal(introspection.body.active, true);
    for (const client of [stack.machine, loader, stack.introspector]) {
      const token = await clientCredentialsToken(stack.idp, client, client === stack.introspector ? undefined : 'service.api');
      tokens.push(token);
    }
    assert.equal((await fetch(`${stack.solutrix!.origin}/v1/service/whoami`)).status, 200);
  });

  test('no process printed a client secret, the admin token or an access token', () => {
    const outputs = stack.processes.map((p, i) => ({ name: `process ${i} (port ${p.port})`, text: p.output() }));
    assert.ok(outputs[0]!.text.includes('"path":"/oauth/token"'), 'the IDP logged requests');
    const needles = [
      ...stack.secrets.map((value) => ({ kind: 'client secret', value })),
      { kind: 'admin token', value: stack.idp.adminToken },
      ...tokens.map((value) => ({ kind: 'access token', value })),
    ];
    assert.deepEqual(leaks(outputs, needles), []);
  });
});
