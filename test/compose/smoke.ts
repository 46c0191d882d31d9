// `npm run compose:smoke`: proves compose.yaml's wiring on a real Docker engine without a registry.
//   1. engine: installs Debian's docker.io/docker-compose/debootstrap if missing, starts dockerd
//      (no engine can run at all: a SKIPPED banner and exit 0 — the only way to skip)
//   2. image: `docker build` of the real Dockerfile (test/compose/image.ts); where its base image
//      node:22-bookworm-slim cannot be pulled, an offline stand-in is tagged under that name first
//      (test/compose/node-base.ts, cached)
//   3. `docker-compose up -d --no-build`, every container healthy, the seed exited 0
//   4. machine flow: Solutrix → IDP (client_credentials) → Service API (introspection)
//   5. the Playwright suite against the compose stack
//   6. persistence: a token and the seeded clients survive `down` + `up`
//   7. `down -v` in any case; non-zero exit on any failure
//   8. with SMOKE_SCALE=1, then the scale-out stack (compose.yaml + compose.scale.yaml): PostgreSQL
//      (a local image standing in for postgres:16, test/compose/postgres-image.ts), two IDP
//      replicas of the image from step 2 behind HAProxy (haproxy/Dockerfile, built on a stand-in for
//      haproxy:3.2 where it cannot be pulled: test/compose/haproxy-image.ts); a client registered and
//      tokens issued through the proxy, introspected many times through it (both replicas must answer,
//      tokens of one active at the other, same JWKS on both); one replica stopped under steady
//      traffic and started again (test/compose/failover.ts); the machine flow; then `down -v`
// Environment: SMOKE_SKIP_E2E=1 skips step 5 (says so loudly); SMOKE_KEEP=1 leaves the stack up;
// SMOKE_SCALE=1 adds step 8, SMOKE_SCALE=only runs just the image build and step 8;
// SMOKE_COMPOSE_V2=1 drives `docker compose` instead of `docker-compose`; SOLUTRIX_SMOKE_CACHE moves the cache.
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureEngine } from './engine.ts';
import { buildImage } from './image.ts';
import { proxyFailover } from './failover.ts';
import { buildPostgresImage } from './postgres-image.ts';
import { run, Timings } from './run.ts';
import { basic, form, http, portInUse, Stack } from './stack.ts';

const ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url)));
const IMAGE = process.env.SOLUTRIX_IMAGE || 'solutrix-local-idp:dev';
const PROJECT = 'solutrix-smoke';
const IDP = 'http://127.0.0.1:4000';
const SOLUTRIX = 'http://127.0.0.1:3000';
const SERVICE_API = 'http://127.0.0.1:4001';

const timings = new Timings();
const adminToken = randomBytes(32).toString('base64url');
// Everything compose.yaml interpolates is set here, so a developer's .env cannot change the test.
const stackEnv = { SOLUTRIX_IMAGE: IMAGE, IDP_ADMIN_TOKEN: adminToken, SEED_ALICE_PASSWORD: '', SEED_BOB_PASSWORD: '', LOG_LEVEL: 'info' };
const stack = new Stack(ROOT, PROJECT, stackEnv);

const SCALE = process.env.SMOKE_SCALE === '1' || process.env.SMOKE_SCALE === 'only';
const SCALE_ONLY = process.env.SMOKE_SCALE === 'only';
const POSTGRES_IMAGE = process.env.SMOKE_POSTGRES_IMAGE || 'solutrix-local-postgres:dev';
const PROXY_IMAGE = process.env.SOLUTRIX_PROXY_IMAGE || 'solutrix-local-haproxy:dev';
const scaleStack = new Stack(
  ROOT,
  `${PROJECT}-scale`,
  { ...stackEnv, POSTGRES_IMAGE, SOLUTRIX_PROXY_IMAGE: PROXY_IMAGE, POSTGRES_PASSWORD: randomBytes(16).toString('hex') },
  ['compose.yaml', 'compose.scale.yaml'],
  { longRunning: ['postgres', 'idp-a', 'idp-b', 'idp', 'service-api', 'solutrix-api'], oneShot: ['seed'] },
);

function check(condition: unknown, message: string, detail?: unknown): asserts condition {
  if (!condition) throw new Error(detail === undefined ? message : `${message}: ${JSON.stringify(detail)}`);
}

function banner(lines: string[]): void {
  const width = Math.max(...lines.map((l) => l.length)) + 4;
  console.log(`\n${'#'.repeat(width)}\n${lines.map((l) => `# ${l.padEnd(width - 4)} #`).join('\n')}\n${'#'.repeat(width)}\n`);
}

async function clientCredentialsToken(clientId: string, secret: string, scope = 'service.api'): Promise<string> {
  const res = await http(`${IDP}/oauth/token`, form({ grant_type: 'client_credentials', scope }, basic(clientId, secret)));
  check(res.status === 200 && typeof res.json.access_token === 'string', `client_credentials for ${clientId}`, { status: res.status, body: res.json });
  check(String(res.json.scope ?? '').split(' ').includes(scope), `token for ${clientId} lacks scope ${scope}`, res.json);
  return res.json.access_token as string;
}

async function introspect(token: string, clientId: string, secret: string): Promise<Record<string, unknown>> {
  const res = await http(`${IDP}/oauth/introspect`, form({ token }, basic(clientId, secret)));
  check(res.status === 200, 'introspection', { status: res.status, body: res.json });
  return res.json;
}

async function machineFlow(): Promise<void> {
  const res = await http(`${SOLUTRIX}/v1/service/whoami`);
  check(res.status === 200, 'GET /v1/service/whoami', { status: res.status, body: res.text.slice(0, 500) });
  // The Service API's answer, relayed by Solutrix; look for the fields wherever the relay nests them.
  const flat = JSON.stringify(res.json);
  const find = (key: string): unknown => {
    const stack: unknown[] = [res.json];
    while (stack.length) {
      const node = stack.pop();
      if (node && typeof node === 'object') {
        if (key in node) return (node as Record<string, unknown>)[key];
        stack.push(...Object.values(node));
      }
    }
    return undefined;
  };
  const scopes = find('scopes') ?? find('scope');
  const scopeList = Array.isArray(scopes) ? scopes : String(scopes ?? '').split(' ');
  check(find('clientId') === 'solutrix-api', 'whoami clientId', flat);
  check(find('kind') === 'machine', 'whoami kind', flat);
  check(scopeList.includes('service.api'), 'whoami scopes include service.api', flat);
  console.log(`  whoami: ${flat}`);

  // Discovery through the published port advertises the browser-facing issuer.
  const discovery = await http(`${IDP}/oauth/.well-known/openid-configuration`);
  check(discovery.status === 200 && discovery.json.issuer === 'http://localhost:4000/oauth', 'discovery issuer', discovery.json.issuer);
  check(String(discovery.json.authorization_endpoint).startsWith('http://localhost:4000/'), 'authorization_endpoint is public', discovery.json.authorization_endpoint);
  // The Service API rejects a missing token per RFC 6750.
  const anonymous = await http(`${SERVICE_API}/v1/whoami`);
  check(anonymous.status === 401, 'Service API without a token answers 401', anonymous.status);
}

async function backChannelDiscovery(): Promise<void> {
  // From inside the network, via idp.internal: metadata still names the public issuer (oidc-provider
  // builds endpoint URLs from the request's Host unless the IDP answers with the issuer's origin).
  const script = "fetch('http://idp.internal:4000/oauth/.well-known/openid-configuration').then((r) => r.json()).then((m) => console.log(JSON.stringify({ issuer: m.issuer, auth: m.authorization_endpoint, token: m.token_endpoint })))";
  const out = await stack.exec('service-api', ['node', '-e', script]);
  const meta = JSON.parse(out.trim().split('\n').pop()!) as Record<string, string>;
  check(meta.issuer === 'http://localhost:4000/oauth' && String(meta.auth).startsWith('http://localhost:4000/'), 'metadata over idp.internal names the public issuer', meta);
  console.log(`  metadata over idp.internal: ${JSON.stringify(meta)}`);
}

async function bindingLoads(): Promise<void> {
  const out = await stack.runOnce('seed', [
    'node',
    '-e',
    "const D = require('better-sqlite3'); const db = new D(':memory:'); console.log(process.version, process.getuid(), db.prepare('select sqlite_version() v').get().v); db.close()",
  ]);
  const line = out.trim().split('\n').pop() ?? '';
  check(/^v22\.\S+ 1000 \d+\.\d+/.test(line), 'better-sqlite3 loads under Node 22 as uid 1000 in the image', line);
  console.log(`  in the image: node ${line}`);
}

async function e2e(): Promise<void> {
  if (process.env.SMOKE_SKIP_E2E === '1') {
    banner(['Playwright suite SKIPPED (SMOKE_SKIP_E2E=1)']);
    return;
  }
  const config = join(ROOT, 'e2e', 'playwright.config.ts');
  check(existsSync(config), `${config} is missing (set SMOKE_SKIP_E2E=1 to run without the browser suite)`);
  const env = {
    ...process.env,
    ...stackEnv,
    E2E_BASE_URL: 'http://localhost:3000',
    E2E_IDP_URL: 'http://localhost:4000',
    E2E_SERVICE_API_URL: 'http://localhost:4001',
    E2E_IDP_ADMIN_TOKEN: adminToken,
  };
  const result = await run('npx', ['playwright', 'test', '-c', config], { cwd: ROOT, env, timeoutMs: 600_000, echo: '  e2e | ' });
  check(result.code === 0, `Playwright suite exited ${result.code}`);
}

async function persistence(): Promise<void> {
  const read = async (client: string) => (await stack.exec('solutrix-api', ['cat', `/credentials/${client}.secret`])).trim();
  const apiSecret = await read('solutrix-api');
  const introspectorSecret = await read('service-introspector');
  const token = await clientCredentialsToken('solutrix-api', apiSecret);
  check((await introspect(token, 'service-introspector', introspectorSecret)).active === true, 'fresh token introspects active');

  await stack.down(false);
  await stack.up();
  await stack.waitHealthy();

  const after = await introspect(token, 'service-introspector', introspectorSecret);
  check(after.active === true && after.client_id === 'solutrix-api', 'token from before down/up still introspects active', after);
  await clientCredentialsToken('solutrix-api', apiSecret);
  check((await read('solutrix-api')) === apiSecret, 'solutrix-api secret unchanged after down/up');
  const seedLog = await stack.logs(['seed']);
  check(!/\b(created|updated|rotated)\b/.test(seedLog.split('\n').filter((l) => /seed: client/.test(l)).join('\n')), 'the second seed run found every client unchanged', seedLog);
  await machineFlow();
  console.log('  token, clients and secrets survived down/up');
}

/** The replicas, as HAProxy names them in X-Upstream (its server names) and as compose names them. */
const REPLICAS = ['idp-a', 'idp-b'];

/** Through the proxy: a new client, tokens, many introspections answered by both replicas. */
async function scaleRoundRobin(): Promise<{ clientId: string; secret: string; token: string }> {
  const admin = { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' };
  const name = `scale-smoke-${randomBytes(4).toString('hex')}`;
  const created = await http(`${IDP}/api/global/admin/clients`, {
    method: 'POST',
    headers: admin,
    body: JSON.stringify({ name, redirect_uris: [], grant_types: ['client_credentials'], scopes: ['service.api'] }),
  });
  check(created.status === 201 && typeof created.json.client_secret === 'string', 'register a client through the proxy', { status: created.status, body: created.json });
  const secret = created.json.client_secret as string;
  const seen = new Map<string, number>();
  const count = (res: { headers: Headers }) => {
    const upstream = res.headers.get('x-upstream') ?? '(none)';
    seen.set(upstream, (seen.get(upstream) ?? 0) + 1);
    return upstream;
  };
  // A few tokens (each issued by whichever replica the proxy picked), each introspected on both.
  const issuers = new Set<string>();
  const rounds = 20;
  let token = '';
  for (let i = 0; i < 4; i++) {
    const res = await http(`${IDP}/oauth/token`, form({ grant_type: 'client_credentials', scope: 'service.api' }, basic(name, secret)));
    check(res.status === 200 && typeof res.json.access_token === 'string', `client_credentials for ${name} through the proxy`, { status: res.status, body: res.json });
    issuers.add(count(res));
    token = res.json.access_token as string;
    for (let j = 0; j < rounds; j++) {
      const info = await http(`${IDP}/oauth/introspect`, form({ token: res.json.access_token as string }, basic(name, secret)));
      check(info.status === 200 && info.json.active === true && info.json.client_id === name, `introspection #${j} via ${info.headers.get('x-upstream')}`, { status: info.status, body: info.json });
      check(info.json.iss === undefined || info.json.iss === 'http://localhost:4000/oauth', 'introspection iss', info.json.iss);
      count(info);
    }
  }
  const summary = Object.fromEntries(seen);
  console.log(`  answers per upstream: ${JSON.stringify(summary)} (tokens issued by ${[...issuers].join(', ')})`);
  for (const replica of REPLICAS) check((seen.get(replica) ?? 0) >= 10, `replica ${replica} answered through the proxy`, summary);
  check(seen.size === REPLICAS.length, 'only the two replicas answered', summary);

  // The replicas, asked directly over the compose network: one key set, one issuer.
  const script = `Promise.all(${JSON.stringify(REPLICAS)}.map((r) => fetch('http://' + r + ':4000/oauth/jwks.json').then((x) => x.text()))).then((t) => console.log(JSON.stringify(t)))`;
  const out = await scaleStack.exec('service-api', ['node', '-e', script]);
  const [a, b] = JSON.parse(out.trim().split('\n').pop()!) as string[];
  check(a === b && (JSON.parse(a!) as { keys: unknown[] }).keys.length > 0, 'both replicas publish the same JWKS', { a, b });
  console.log('  both replicas publish the same JWKS');
  return { clientId: name, secret, token };
}

async function scale(): Promise<void> {
  let brought = false;
  try {
    await timings.phase('scale: postgres image', () => buildPostgresImage({ image: POSTGRES_IMAGE }));
    await timings.phase('scale: proxy image (docker build)', () => buildImage({ root: join(ROOT, 'haproxy'), image: PROXY_IMAGE }));
    await timings.phase('scale: up', async () => {
      await scaleStack.down(true).catch(() => undefined);
      const busy = [];
      for (const port of [3000, 4000, 4001]) if (await portInUse(port)) busy.push(port);
      check(busy.length === 0, `127.0.0.1 ports in use (stop \`npm start\` or another stack first)`, busy);
      brought = true;
      await scaleStack.up();
      await scaleStack.waitHealthy();
    });
    const client = await timings.phase('scale: round robin', scaleRoundRobin);
    await timings.phase('scale: failover', () =>
      proxyFailover({ stack: scaleStack, idp: IDP, ...client, replica: REPLICAS[0]!, other: REPLICAS[1]! }),
    );
    await timings.phase('scale: machine flow', machineFlow);
  } catch (err) {
    if (brought) {
      const logs = await scaleStack.logs().catch((e: Error) => `(no logs: ${e.message})`);
      console.error(`\n--- scale stack logs (last 150 lines) ---\n${logs.split('\n').slice(-150).join('\n')}`);
    }
    throw err;
  } finally {
    if (brought && process.env.SMOKE_KEEP !== '1') {
      await timings.phase('scale: down -v', () => scaleStack.down(true)).catch((err: Error) => console.error(`teardown failed: ${err.message}`));
    }
  }
}

async function main(): Promise<number> {
  const engine = await timings.phase('engine', () => ensureEngine());
  if (!engine.ok) {
    banner(['COMPOSE SMOKE TEST SKIPPED: no Docker engine can run here', engine.reason]);
    return 0;
  }
  let brought = false;
  try {
    await timings.phase('image (docker build)', () => buildImage({ root: ROOT, image: IMAGE }));
    if (SCALE_ONLY) {
      await scale();
      return 0;
    }
    await timings.phase('up', async () => {
      await stack.down(true).catch(() => undefined); // leftovers of an interrupted run
      const busy = [];
      for (const port of [3000, 4000, 4001]) if (await portInUse(port)) busy.push(port);
      check(busy.length === 0, `127.0.0.1 ports in use (stop \`npm start\` or another stack first)`, busy);
      brought = true;
      await stack.up();
      await stack.waitHealthy();
    });
    await timings.phase('image checks', async () => {
      await bindingLoads();
      await backChannelDiscovery();
    });
    await timings.phase('machine flow', machineFlow);
    await timings.phase('e2e (Playwright)', e2e);
    await timings.phase('persistence (down/up)', persistence);
    if (SCALE) {
      if (process.env.SMOKE_KEEP !== '1') await timings.phase('down -v', () => stack.down(true));
      brought = false;
      await scale();
    }
    return 0;
  } catch (err) {
    console.error(`\nFAILED: ${(err as Error).message}`);
    if (brought) {
      const logs = await stack.logs().catch((e: Error) => `(no logs: ${e.message})`);
      console.error(`\n--- container logs (last 150 lines) ---\n${logs.split('\n').slice(-150).join('\n')}`);
    }
    return 1;
  } finally {
    if (brought && process.env.SMOKE_KEEP !== '1') {
      await timings.phase('down -v', () => stack.down(true)).catch((err: Error) => console.error(`teardown failed: ${err.message}`));
    }
    console.log(`\nTimings\n${timings.summary()}`);
  }
}

const code = await main();
console.log(code === 0 ? '\ncompose smoke: PASSED' : '\ncompose smoke: FAILED');
process.exit(code);

