// Phase 6 (BENCH_PHASES=scale, not in the default run: ~12 minutes and ~0.5 GB of disk): the cost
// curve. For each size in BENCH_SCALE_SIZES (SQLite) and BENCH_SCALE_PG_SIZES (PostgreSQL) one IDP
// gets that many live tokens (+10 % already expired), written straight into its tables by
// scaleFill.ts, then: start-up, RSS, introspection and grant CPU per request and p99, one expiry purge.
// Then one Service API process per cache bound receives BENCH_SCALE_CACHED distinct tokens.
import { randomBytes, randomInt } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import autocannon from 'autocannon';
import pg from 'pg';
import { loadConfig as loadServiceConfig } from '../service-api/src/config.ts';
import { startPostgres, type TestPostgres } from '../test/support/postgres.ts';
import { freePort } from '../test/support/process.ts';
import { basic, clientCredentialsToken, declareResourceServer, postForm, registerClient, SERVICE_API, type RegisteredClient } from '../test/support/idp.ts';
import { startChild, type Child } from './children.ts';
import { settings } from './config.ts';
import { better, load, type LoadResult } from './load.ts';
import { fillPostgres, fillSqlite, postgresBytes, sqliteBytes, tokenId, type Fill } from './scaleFill.ts';

export type ScaleStep = {
  store: 'sqlite' | 'postgres';
  liveTokens: number;
  expiredTokens: number;
  fillSeconds: number;
  databaseBytes: number;
  /** fork → listening, and the part of it spent opening the store. */
  startupMs: number;
  storeOpenMs: number;
  rssIdleBytes: number;
  rssAfterLoadBytes: number;
  /** One token introspected over and over (the store's row cache answers). */
  introspectOne: LoadResult;
  /** A token drawn at random from all the live ones for every request. */
  introspectAny: LoadResult;
  grant: LoadResult;
  purge: { purged: number; ms: number };
};
export type CacheStep = { bound: number; bySetting: string; tokens: number; introspections: number; evictions: number; rssBeforeBytes: number; rssAfterBytes: number; seconds: number };
export type ScaleResults = { steps: ScaleStep[]; serviceApi: CacheStep[] };

type IdpReady = { port: number; storeOpenMs: number };
const EXPIRED_FRACTION = 0.1;
const TTL_SECONDS = 86_400;
const WARM_UP_SECONDS = 3;
/** Filled tokens checked over HTTP after each fill: they must introspect like the IDP's own. */
const CHECKED = 5;

/** Resident set of a process, bytes (from /proc: the same figure for any child, whatever it runs). */
export function rssBytes(pid: number): number {
  const kb = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
  if (kb === undefined) throw new Error(`no VmRSS for process ${pid}`);
  return Number(kb) * 1024;
}

const form = { 'content-type': 'application/x-www-form-urlencoded' };

/** The next step's database must not share the disk with this one's million rows. */
async function dropDatabase(postgres: TestPostgres, name: string) {
  const client = new pg.Client({ connectionString: postgres.adminUrl });
  await client.connect();
  try {
    await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  } finally {
    await client.end();
  }
}

async function startIdp(env: Record<string, string>): Promise<{ child: Child<IdpReady>; ms: number }> {
  const started = performance.now();
  const child = await startChild<IdpReady>('./idpServer.ts', env, { stdout: 'pipe', timeoutMs: 600_000 });
  return { child, ms: performance.now() - started };
}

async function introspect(issuer: string, introspector: RegisteredClient, token: string) {
  const res = await postForm(`${issuer}/introspect`, introspector, { token, token_type_hint: 'access_token' });
  return res.body;
}

/** The filled rows must be real tokens: a few live ones introspect active for their client, an expired one not. */
async function checkFilled(issuer: string, introspector: RegisteredClient, fill: Fill, clientId: string) {
  for (let k = 0; k < CHECKED; k++) {
    const i = k === 0 ? 0 : k === 1 ? fill.live - 1 : randomInt(fill.live);
    const body = await introspect(issuer, introspector, tokenId(fill.seed, 'live', i));
    if (body.active !== true || body.client_id !== clientId || body.aud !== SERVICE_API) {
      throw new Error(`filled token #${i} does not introspect active for ${clientId}: ${JSON.stringify(body)}`);
    }
  }
  if (fill.expired > 0) {
    const body = await introspect(issuer, introspector, tokenId(fill.seed, 'expired', 0));
    if (body.active !== false) throw new Error(`an expired filled token introspects ${JSON.stringify(body)}`);
  }
}

async function step(
  store: 'sqlite' | 'postgres',
  live: number,
  { postgres, progress, cacheTokens }: { postgres?: TestPostgres; progress: (line: string) => void; cacheTokens?: (issuer: string, introspector: RegisteredClient, fill: Fill) => Promise<void> },
): Promise<ScaleStep> {
  const dataDir = mkdtempSync(join(tmpdir(), 'idp-scale-'));
  const port = await freePort();
  const issuer = `http://127.0.0.1:${port}/oauth`;
  const databaseName = `idp_scale_${live}`;
  const databaseUrl = postgres && (await postgres.createDatabase(databaseName));
  const env = {
    PORT: String(port),
    IDP_ISSUER: issuer,
    IDP_DATA_DIR: dataDir,
    IDP_ADMIN_TOKEN: randomBytes(24).toString('base64url'),
    IDP_INTROSPECTORS: '',
    CLIENT_CREDENTIALS_TTL: String(TTL_SECONDS),
    LOG_LEVEL: 'info',
    BENCH_IDP_STORE: store,
    ...(databaseUrl ? { IDP_DATABASE_URL: databaseUrl } : {}),
  };
  const idp = { origin: `http://127.0.0.1:${port}`, adminToken: env.IDP_ADMIN_TOKEN };
  let child: Child<IdpReady> | undefined;
  try {
    // The template: the token the IDP writes for a real client of a real resource server.
    child = (await startIdp(env)).child;
    await declareResourceServer(idp, { identifier: SERVICE_API, scopes: ['service.api'] });
    const introspector = await registerClient(idp, 'service-introspector', [], { introspects: [SERVICE_API] });
    const caller = await registerClient(idp, 'bench-caller', ['service.api']);
    const template = await clientCredentialsToken({ issuer }, caller, 'service.api');
    await child.stop();
    child = undefined;

    // `live` filled tokens beside the template (one more than the step's name: no matter at this scale,
    // and every figure then has `live` distinct filled tokens to draw from).
    const fill: Fill = { live, expired: Math.round(live * EXPIRED_FRACTION), seed: randomBytes(8).toString('hex'), now: Math.floor(Date.now() / 1000), ttlSeconds: TTL_SECONDS };
    progress(`6. scale, ${store} ${live.toLocaleString('en-US')}: filling (+${fill.expired.toLocaleString('en-US')} expired)`);
    const filling = performance.now();
    const row = { model: 'ClientCredentials', id: template };
    if (databaseUrl) await fillPostgres(databaseUrl, row, fill);
    else fillSqlite(join(dataDir, 'idp.sqlite'), row, fill);
    const fillSeconds = (performance.now() - filling) / 1000;
    const databaseBytes = databaseUrl ? await postgresBytes(databaseUrl) : sqliteBytes(join(dataDir, 'idp.sqlite'));

    const started = await startIdp(env);
    child = started.child;
    const rssIdleBytes = rssBytes(child.process.pid!);
    await checkFilled(issuer, introspector, fill, caller.client_id);

    const cpu = () => child!.call<number>('cpu');
    const introspection = { url: `${issuer}/introspect`, method: 'POST', headers: { ...form, authorization: basic(introspector.client_id, introspector.client_secret) }, cpu };
    const runs = {
      one: (extra = {}) => load({ ...introspection, body: new URLSearchParams({ token: template, token_type_hint: 'access_token' }).toString(), ...extra }),
      any: (extra = {}) =>
        load({
          ...introspection,
          requests: [{ setupRequest: (req) => ({ ...req, body: new URLSearchParams({ token: tokenId(fill.seed, 'live', randomInt(fill.live)), token_type_hint: 'access_token' }).toString() }) }],
          ...extra,
        }),
      grant: (extra = {}) =>
        load({ url: `${issuer}/token`, method: 'POST', headers: { ...form, authorization: basic(caller.client_id, caller.client_secret) }, body: 'grant_type=client_credentials&scope=service.api', cpu, ...extra }),
    };
    progress(`6. scale, ${store} ${live.toLocaleString('en-US')}: introspection (one token, any token) and grants, ${settings.rounds} rounds`);
    for (const run of Object.values(runs)) await run({ warmUpSeconds: WARM_UP_SECONDS, seconds: 1 });
    const best: Partial<Record<keyof typeof runs, LoadResult>> = {};
    for (let round = 0; round < settings.rounds; round++) {
      for (const [name, run] of Object.entries(runs) as [keyof typeof runs, () => Promise<LoadResult>][]) best[name] = better(best[name], await run());
    }
    const rssAfterLoadBytes = rssBytes(child.process.pid!);
    await cacheTokens?.(issuer, introspector, fill);
    const purge = await child.call<{ purged: number; ms: number }>('purge');
    if (purge.purged < fill.expired) throw new Error(`the purge removed ${purge.purged} rows, fewer than the ${fill.expired} expired ones`);
    return {
      store,
      liveTokens: live,
      expiredTokens: fill.expired,
      fillSeconds: +fillSeconds.toFixed(1),
      databaseBytes,
      startupMs: Math.round(started.ms),
      storeOpenMs: Math.round(started.child.ready.storeOpenMs),
      rssIdleBytes,
      rssAfterLoadBytes,
      introspectOne: best.one!,
      introspectAny: best.any!,
      grant: best.grant!,
      purge: { purged: purge.purged, ms: Math.round(purge.ms) },
    };
  } finally {
    await child?.stop();
    rmSync(dataDir, { recursive: true, force: true });
    if (postgres && databaseUrl) await dropDatabase(postgres, databaseName);
  }
}

/** One Service API process, `tokens` distinct filled tokens sent once each through GET /v1/whoami. */
async function cacheStep(issuer: string, introspector: RegisteredClient, fill: Fill, tokens: number, bound: string | undefined): Promise<CacheStep> {
  const idpEnv = { IDP_ISSUER: issuer, IDP_INTROSPECTION_URL: `${issuer}/introspect`, INTROSPECTION_CLIENT_ID: introspector.client_id, INTROSPECTION_CLIENT_SECRET: introspector.client_secret };
  // Long enough that no entry expires during the run: what is measured is the bound, not the TTL.
  const cacheEnv = { INTROSPECTION_CACHE_MAX_TTL: '3600', ...(bound ? { INTROSPECTION_CACHE_MAX_ENTRIES: bound } : {}) };
  const effective = loadServiceConfig({ ...idpEnv, ...cacheEnv }).introspection!.cacheMaxEntries!;
  const apps = await startChild('./serviceApiServer.ts', { LOG_LEVEL: settings.logLevel, ...idpEnv });
  try {
    const { port } = await apps.call<{ port: number }>('app', { kind: 'introspection', env: cacheEnv });
    const rssBeforeBytes = rssBytes(apps.process.pid!);
    let next = 0;
    const started = performance.now();
    const result = await autocannon({
      url: `http://127.0.0.1:${port}/v1/whoami`,
      connections: settings.connections,
      amount: tokens,
      timeout: 10,
      requests: [{ setupRequest: (req) => ({ ...req, headers: { ...req.headers, authorization: `Bearer ${tokenId(fill.seed, 'live', next++ % fill.live)}` } }) }],
    });
    if (result.non2xx + result.errors + result.timeouts > 0) throw new Error(`Service API cache run: ${result.non2xx} non-2xx, ${result.errors} errors, ${result.timeouts} timeouts`);
    const stats = await apps.call<{ introspections: number; evictions: number }>('stats', { port });
    return {
      bound: effective,
      bySetting: bound ? `INTROSPECTION_CACHE_MAX_ENTRIES=${bound}` : 'default',
      tokens,
      introspections: stats.introspections,
      evictions: stats.evictions,
      rssBeforeBytes,
      rssAfterBytes: rssBytes(apps.process.pid!),
      seconds: +((performance.now() - started) / 1000).toFixed(1),
    };
  } finally {
    await apps.stop();
  }
}

export async function benchScale({ progress }: { progress: (line: string) => void }): Promise<ScaleResults> {
  const steps: ScaleStep[] = [];
  const serviceApi: CacheStep[] = [];
  const tokens = settings.scaleCachedTokens;
  // The Service API runs beside the first SQLite IDP that holds enough distinct live tokens.
  const cacheTokens = async (issuer: string, introspector: RegisteredClient, fill: Fill) => {
    if (tokens === 0 || serviceApi.length > 0 || fill.live < tokens) return;
    for (const bound of [undefined, String(Math.max(tokens, 100_000))]) {
      progress(`6. scale: Service API with ${tokens.toLocaleString('en-US')} distinct tokens, cache bound ${bound ?? 'default'}`);
      serviceApi.push(await cacheStep(issuer, introspector, fill, tokens, bound));
    }
  };
  for (const live of settings.scaleSizes) steps.push(await step('sqlite', live, { progress, cacheTokens }));
  if (settings.scalePostgresSizes.length > 0) {
    const postgres = await startPostgres();
    try {
      for (const live of settings.scalePostgresSizes) steps.push(await step('postgres', live, { postgres, progress }));
    } finally {
      await postgres.stop();
    }
  }
  return { steps, serviceApi };
}
