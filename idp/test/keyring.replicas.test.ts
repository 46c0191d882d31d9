// Key rotation with the keys in the shared store: `npm run keys` (the real script, as a process, with
// IDP_DATABASE_URL) against two IDP replicas over one PostgreSQL database, neither of them restarted.
// The replicas keep the default IDP_KEYS_REFRESH_INTERVAL (30 s), so a change seen within a few
// seconds was seen through LISTEN/NOTIFY; the periodic re-read has its own test (keyring.test.ts).
// Steps whose CLI output is not the point run in this process (rotateConfigured, what the CLI calls).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import { after, before, describe, test } from 'node:test';
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify, type JSONWebKeySet } from 'jose';
import { HAPROXY_BIN, startHaproxy, type TestProxy } from '../../test/support/haproxy.ts';
import { basic, declareResourceServer, registerClient, startIdp, SERVICE_API, type RegisteredClient, type TestIdp } from '../../test/support/idp.ts';
import { startPostgres, type TestPostgres } from '../../test/support/postgres.ts';
import { freePort, ROOT } from '../../test/support/process.ts';
import { poll } from '../../test/support/wait.ts';
import { rotateConfigured } from '../../scripts/keys.ts';

const run = promisify(execFile);
const JWT_API = 'http://localhost:4077';
/**
 * Well inside the 30 s re-read, so only a notification gets a change there this fast; generous
 * because this machine is shared (the delays seen are printed: usually tens of milliseconds).
 */
const PICKUP_MS = 10_000;

let server: TestPostgres;
let databaseUrl: string;
let issuer: string;
let a: TestIdp;
let b: TestIdp;
let machine: RegisteredClient;
let introspector: RegisteredClient;
const adminToken = randomBytes(24).toString('base64url');
const pids: number[] = [];

before(async () => {
  server = await startPostgres();
  databaseUrl = await server.createDatabase('keys');
  const [portA, portB] = [await freePort(), await freePort()];
  issuer = `http://127.0.0.1:${portA}/oauth`;
  const replica = (port: number) => startIdp({ port, issuer, env: { IDP_DATABASE_URL: databaseUrl, IDP_ADMIN_TOKEN: adminToken } });
  // One after the other: two starting together on a busy machine can outlast the health wait.
  a = await replica(portA);
  b = await replica(portB);
  pids.push(a.child.pid!, b.child.pid!);
  await declareResourceServer(a, { identifier: JWT_API, scopes: ['jwt.read'], access_token_format: 'jwt' });
  machine = await registerClient(a, 'rotation-machine', ['service.api', 'jwt.read']);
  introspector = await registerClient(a, 'service-introspector');
});
after(async () => {
  await Promise.all([a?.stop(), b?.stop()]);
  await server?.stop();
});

// oidc-provider's own line on Node 20 (ENVIRONMENT.md): not the script's output.
const ours = (stderr: string) => stderr.split('\n').filter((l) => !l.startsWith('oidc-provider WARNING: Unsupported runtime')).join('\n');

async function keys(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, ['--import', 'tsx', 'scripts/keys.ts', ...args], {
      cwd: ROOT,
      env: { ...process.env, IDP_DATABASE_URL: databaseUrl, IDP_DATA_DIR: '/nonexistent/not-used-with-a-database' },
      timeout: 30_000,
    });
    return { code: 0, stdout, stderr: ours(stderr) };
  } catch (err) {
    const failed = err as { code: number; stdout: string; stderr: string };
    return { code: failed.code, stdout: failed.stdout, stderr: ours(failed.stderr) };
  }
}

const inProcess = (command: string, kid?: string) => rotateConfigured({ databaseUrl, dataDir: '/nonexistent' }, command, kid);
async function kidsAt(origin: string) {
  const res = await fetch(`${origin}/oauth/jwks.json`);
  assert.equal(res.status, 200, `GET ${origin}/oauth/jwks.json: ${res.status}`); // a replica must never fail one
  return ((await res.json()) as JSONWebKeySet).keys.map((k) => k.kid);
}
const kidOf = (token: string) => decodeProtectedHeader(token).kid;

async function jwtToken(origin: string): Promise<{ token: string; upstream: string | null }> {
  const res = await fetch(`${origin}/oauth/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic(machine.client_id, machine.client_secret) },
    body: new URLSearchParams({ grant_type: 'client_credentials', scope: 'jwt.read', resource: JWT_API }),
  });
  const body = (await res.json()) as { access_token?: string };
  if (res.status !== 200 || !body.access_token) throw new Error(`token at ${origin}: ${res.status} ${JSON.stringify(body)}`);
  return { token: body.access_token, upstream: res.headers.get('x-upstream') };
}

async function verifyAt(origin: string, token: string) {
  const jwks = (await (await fetch(`${origin}/oauth/jwks.json`)).json()) as JSONWebKeySet;
  return jwtVerify(token, createLocalJWKSet(jwks), { issuer, audience: JWT_API, typ: 'at+jwt' });
}

/** How long until both replicas show `done` (each polled on its own); fails naming what they showed. */
async function bothWithin<T>(read: (r: TestIdp) => Promise<T>, done: (value: T) => boolean, what: string): Promise<number[]> {
  const started = performance.now();
  return Promise.all(
    [a, b].map(async (r) => {
      const seen = await poll(() => read(r), done, { timeoutMs: PICKUP_MS, intervalMs: 20 });
      assert.ok(done(seen), `${r.origin}: ${what} not seen within ${PICKUP_MS} ms (saw ${JSON.stringify(seen)})`);
      return Math.round(performance.now() - started);
    }),
  );
}

describe('npm run keys with IDP_DATABASE_URL, two replicas, no restart', () => {
  let first: string;
  let second: string;

  test('list names the one key both replicas publish, as the signing key', async () => {
    const published = await kidsAt(a.origin);
    assert.deepEqual(await kidsAt(b.origin), published);
    assert.equal(published.length, 1);
    first = published[0]!;
    assert.deepEqual(await keys('list'), { code: 0, stdout: `${first} RS256 (signing)\n`, stderr: '' });
  });

  test('add: both replicas publish the new key within 10 s; tokens are still signed with the old one', async () => {
    const added = await keys('add');
    assert.equal(added.code, 0, added.stderr);
    second = /^added (\S+) \(published, not signing yet\)\n$/.exec(added.stdout)![1]!;
    const delays = await bothWithin((r) => kidsAt(r.origin), (kids) => kids.join() === [first, second].join(), 'the new key');
    console.log(`# add seen by the replicas after ${delays.join(' / ')} ms`);
    for (const r of [a, b]) assert.equal(kidOf((await jwtToken(r.origin)).token), first);
    assert.equal(await inProcess('list'), `${first} RS256 (signing)\n${second} RS256`);
  });

  test('retire refuses the signing key and an unknown kid, and changes nothing', async () => {
    assert.deepEqual(await keys('retire', first), { code: 1, stdout: '', stderr: `keys: ${first} is the signing key: promote another key first\n` });
    // The same steps in this process (each CLI start costs seconds on a busy machine).
    await assert.rejects(inProcess('promote', 'no-such-kid'), { message: 'no key no-such-kid' });
    await assert.rejects(inProcess('retire', 'no-such-kid'), { message: 'no key no-such-kid' });
    assert.equal(await inProcess('list'), `${first} RS256 (signing)\n${second} RS256`);
    for (const r of [a, b]) assert.deepEqual(await kidsAt(r.origin), [first, second]);
  });

  test('promote: tokens issued afterwards at either replica carry the new kid and verify against either replica\'s JWKS', async () => {
    assert.deepEqual(await keys('promote', second), { code: 0, stdout: `${second} now signs\n`, stderr: '' });
    const delays = await bothWithin(async (r) => kidOf((await jwtToken(r.origin)).token), (kid) => kid === second, 'signing with the new key');
    console.log(`# promote seen by the replicas after ${delays.join(' / ')} ms`);
    for (const issuing of [a, b]) {
      const { token } = await jwtToken(issuing.origin);
      assert.equal(kidOf(token), second);
      for (const verifying of [a, b]) assert.equal((await verifyAt(verifying.origin, token)).protectedHeader.kid, second);
    }
    for (const r of [a, b]) assert.deepEqual(await kidsAt(r.origin), [second, first], 'the new key first, the old one still published');
  });

  test('retire: the old key is gone from both replicas\' JWKS within 10 s', async () => {
    assert.deepEqual(await keys('retire', first), { code: 0, stdout: `retired ${first}\n`, stderr: '' });
    const delays = await bothWithin((r) => kidsAt(r.origin), (kids) => kids.join() === second, 'the old key retired');
    console.log(`# retire seen by the replicas after ${delays.join(' / ')} ms`);
    assert.deepEqual([a.child.pid, b.child.pid], pids, 'neither replica was restarted');
    for (const r of [a, b]) assert.match(r.output(), /"msg":"signing keys changed"/);
  });

  test('rotation under load (through HAProxy when installed): no failed request, no token failing verification', async () => {
    const proxy: TestProxy | undefined = await startHaproxy([a.origin, b.origin]);
    if (!proxy) console.log(`# ${HAPROXY_BIN} is not installed: the load alternates between the replicas directly`);
    let turn = 0;
    const target = () => proxy?.origin ?? [a.origin, b.origin][turn++ % 2]!;
    const counts = { iterations: 0, requests: 0, failedRequests: 0, jwtVerified: 0, jwtFailed: 0, introspectedActive: 0, introspectedNot: 0 };
    const upstreams: Record<string, number> = {};
    const failures: string[] = [];
    const kidsSigned: Record<string, number> = {};
    let stop = false;

    const request = async (url: string, init: RequestInit) => {
      counts.requests++;
      try {
        const res = await fetch(url, init);
        const upstream = res.headers.get('x-upstream');
        if (upstream) upstreams[upstream] = (upstreams[upstream] ?? 0) + 1;
        const body = (await res.json()) as Record<string, unknown>;
        if (res.status !== 200) {
          counts.failedRequests++;
          failures.push(`${url}: ${res.status} ${JSON.stringify(body)}`);
          return undefined;
        }
        return body;
      } catch (err) {
        counts.failedRequests++;
        failures.push(`${url}: ${(err as Error).message}`);
        return undefined;
      }
    };
    const grant = (form: Record<string, string>) =>
      request(`${target()}/oauth/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic(machine.client_id, machine.client_secret) },
        body: new URLSearchParams({ grant_type: 'client_credentials', ...form }),
      });

    // Each iteration: a JWT verified against a JWKS fetched (through the proxy: usually from the other
    // replica) right after issue, and an opaque token introspected the same way.
    const worker = async (iterations: number[], w: number) => {
      for (let i = 0; i < 3000 && !stop; i++) {
        const jwt = await grant({ scope: 'jwt.read', resource: JWT_API });
        if (typeof jwt?.access_token === 'string') {
          const token = jwt.access_token;
          kidsSigned[kidOf(token)!] = (kidsSigned[kidOf(token)!] ?? 0) + 1;
          const jwks = await request(`${target()}/oauth/jwks.json`, {});
          if (jwks) {
            try {
              await jwtVerify(token, createLocalJWKSet(jwks as unknown as JSONWebKeySet), { issuer, audience: JWT_API, typ: 'at+jwt' });
              counts.jwtVerified++;
            } catch (err) {
              counts.jwtFailed++;
              failures.push(`kid ${kidOf(token)} against ${JSON.stringify((jwks as unknown as JSONWebKeySet).keys.map((k) => k.kid))}: ${(err as Error).message}`);
            }
          }
        }
        const opaque = await grant({ scope: 'service.api', resource: SERVICE_API });
        if (typeof opaque?.access_token === 'string') {
          const seen = await request(`${target()}/oauth/introspect`, {
            method: 'POST',
            headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic(introspector.client_id, introspector.client_secret) },
            body: new URLSearchParams({ token: opaque.access_token }),
          });
          if (seen?.active === true) counts.introspectedActive++;
          else if (seen) {
            counts.introspectedNot++;
            failures.push(`introspection: ${JSON.stringify(seen)}`);
          }
        }
        iterations[w]!++;
        counts.iterations++;
      }
    };
    const iterations = [0, 0, 0];
    const workers = iterations.map((_, w) => worker(iterations, w));
    /** Until every worker has finished `more` iterations begun after now (so none holds a token from before). */
    const afterEveryWorker = async (more: number) => {
      const from = [...iterations];
      const seen = await poll(() => iterations.every((n, w) => n >= from[w]! + more), Boolean, { timeoutMs: 30_000, intervalMs: 20 });
      assert.ok(seen, `the load stalled: ${JSON.stringify(counts)} ${failures.slice(0, 5).join('; ')}`);
    };

    try {
      await afterEveryWorker(5);
      const oldKid = (await kidsAt(a.origin))[0]!;
      // The procedure, each step once every replica shows the previous one.
      // In this process: the CLI's own start-up would only stretch the run.
      const newKid = /^added (\S+)/.exec(await inProcess('add'))![1]!;
      await bothWithin((r) => kidsAt(r.origin), (kids) => kids.includes(newKid), 'the new key');
      await afterEveryWorker(5);
      assert.equal(await inProcess('promote', newKid), `${newKid} now signs`);
      await bothWithin(async (r) => kidOf((await jwtToken(r.origin)).token), (kid) => kid === newKid, 'signing with the new key');
      await afterEveryWorker(5);
      assert.equal(await inProcess('retire', oldKid), `retired ${oldKid}`);
      await bothWithin((r) => kidsAt(r.origin), (kids) => !kids.includes(oldKid), 'the old key retired');
      await afterEveryWorker(5);
      stop = true;
      await Promise.all(workers);

      console.log(`# rotation under load ${proxy ? 'through HAProxy' : 'alternating replicas'}: ${JSON.stringify(counts)}; served by ${JSON.stringify(upstreams)}; JWTs by kid ${JSON.stringify(kidsSigned)}`);
      assert.deepEqual(failures, []);
      assert.equal(counts.failedRequests, 0);
      assert.equal(counts.jwtFailed, 0);
      assert.equal(counts.introspectedNot, 0);
      assert.equal(counts.jwtVerified, counts.iterations);
      assert.equal(counts.introspectedActive, counts.iterations);
      assert.ok((kidsSigned[oldKid] ?? 0) > 0 && (kidsSigned[newKid] ?? 0) > 0, 'tokens were signed with both keys during the run');
      if (proxy) assert.ok(Object.keys(upstreams).length === 2 && Object.values(upstreams).every((n) => n > 10), `both replicas served: ${JSON.stringify(upstreams)}`);
    } finally {
      stop = true;
      await Promise.all(workers);
      await proxy?.stop();
    }
  });
});
