// Phase 4: one IDP process's throughput, next to a bare node:http server and to oidc-provider's own
// in-memory adapter behind the very same app.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { freePort } from '../test/support/process.ts';
import { startPostgres } from '../test/support/postgres.ts';
import { basic, clientCredentialsToken, declareResourceServer, registerClient, SERVICE_API } from '../test/support/idp.ts';
import { startChild, type Child, type Stdout } from './children.ts';
import { better, capacity, load, type LoadResult } from './load.ts';

export type IdpVariant = { store: 'sqlite' | 'memory' | 'postgres'; logLevel: string; stdout: Stdout; env?: Record<string, string>; name?: string };
export type IdpResults = {
  hello: LoadResult;
  introspection: Record<string, LoadResult>;
  grants: Record<string, LoadResult>;
  ratios: Record<string, number>;
};

export type Target = {
  name: string;
  introspect: () => Promise<LoadResult>;
  grant: () => Promise<LoadResult>;
  /** Untimed load on both endpoints: a fresh process measured at once is measured half-compiled. */
  warmUp: () => Promise<void>;
  /** One request, as the load sends it (for counting what a single request costs the store). */
  once: (endpoint: 'introspect' | 'grant') => Promise<Response>;
  child: Child<{ port: number }>;
};

const WARM_UP_SECONDS = 3;

const nameOf = (v: IdpVariant) => v.name ?? label(v);
const label = (v: IdpVariant) => `${v.store}, LOG_LEVEL=${v.logLevel}${v.logLevel === 'silent' ? '' : v.stdout === 'pipe' ? ' → pipe' : ' → /dev/null'}`;

export async function startIdpVariant(variant: IdpVariant): Promise<Target> {
  const port = await freePort();
  const issuer = `http://127.0.0.1:${port}/oauth`;
  const adminToken = randomBytes(24).toString('base64url');
  const child = await startChild<{ port: number }>(
    './idpServer.ts',
    {
      PORT: String(port),
      IDP_ISSUER: issuer,
      IDP_DATA_DIR: mkdtempSync(join(tmpdir(), 'idp-bench-')),
      IDP_ADMIN_TOKEN: adminToken,
      BENCH_IDP_STORE: variant.store,
      LOG_LEVEL: variant.logLevel,
      ...variant.env,
    },
    { stdout: variant.stdout },
  );
  const idp = { origin: `http://127.0.0.1:${port}`, adminToken, issuer };
  // As the seed sets the stack up: the Service API's resource server, and its introspector allowed to
  // introspect the tokens issued for it.
  await declareResourceServer(idp, { identifier: SERVICE_API, scopes: ['service.api'] });
  const introspector = await registerClient(idp, 'service-introspector', [], { introspects: [SERVICE_API] });
  const caller = await registerClient(idp, 'bench-caller', ['service.api']);
  const token = await clientCredentialsToken(idp, caller, 'service.api');
  const form = { 'content-type': 'application/x-www-form-urlencoded' };
  const cpu = () => child.call<number>('cpu');
  const requests = {
    introspect: {
      url: `${issuer}/introspect`,
      method: 'POST' as const,
      headers: { ...form, authorization: basic(introspector.client_id, introspector.client_secret) },
      body: new URLSearchParams({ token, token_type_hint: 'access_token' }).toString(),
    },
    grant: {
      url: `${issuer}/token`,
      method: 'POST' as const,
      headers: { ...form, authorization: basic(caller.client_id, caller.client_secret) },
      body: 'grant_type=client_credentials&scope=service.api',
    },
  };
  const introspect = (warmUpSeconds?: number) =>
    load({ ...requests.introspect, cpu, ...(warmUpSeconds === undefined ? {} : { warmUpSeconds, seconds: 1 }) });
  const grant = (warmUpSeconds?: number) => load({ ...requests.grant, cpu, ...(warmUpSeconds === undefined ? {} : { warmUpSeconds, seconds: 1 }) });
  return {
    name: nameOf(variant),
    child,
    introspect: () => introspect(),
    grant: () => grant(),
    async warmUp() {
      await introspect(WARM_UP_SECONDS);
      await grant(WARM_UP_SECONDS);
    },
    once: async (endpoint) => {
      const { url, ...init } = requests[endpoint];
      const res = await fetch(url, init);
      if (res.status !== 200) throw new Error(`${endpoint}: HTTP ${res.status} ${await res.text()}`);
      return res;
    },
  };
}

export async function benchIdp({ rounds, progress }: { rounds: number; progress: (line: string) => void }): Promise<IdpResults> {
  const hello = await startChild<{ port: number }>('./helloServer.ts', {});
  // The replicas' shared store (IDP_DATABASE_URL) beside the embedded one: a throwaway local PostgreSQL server.
  const postgres = await startPostgres();
  const main: IdpVariant[] = [
    { store: 'sqlite', logLevel: 'info', stdout: 'pipe' },
    { store: 'memory', logLevel: 'info', stdout: 'pipe' },
    { store: 'postgres', logLevel: 'info', stdout: 'pipe', env: { IDP_DATABASE_URL: await postgres.createDatabase('idp_bench') } },
    // The noise floor: the first variant again in its own process. Whatever separates these two is
    // this machine, not the code.
    { store: 'sqlite', logLevel: 'info', stdout: 'pipe', name: 'sqlite again (second process, same config)' },
  ];
  const logging: IdpVariant[] = [
    { store: 'sqlite', logLevel: 'info', stdout: 'ignore' },
    { store: 'sqlite', logLevel: 'silent', stdout: 'ignore' },
  ];
  const targets: Target[] = [];
  try {
    for (const variant of [...main, ...logging]) targets.push(await startIdpVariant(variant));
    const best = (into: Record<string, LoadResult>, name: string, result: LoadResult) => {
      into[name] = better(into[name], result);
    };
    const introspection: Record<string, LoadResult> = {};
    const grants: Record<string, LoadResult> = {};
    let helloResult: LoadResult | undefined;
    progress('4. IDP: warming up every process');
    await load({ url: `http://127.0.0.1:${hello.ready.port}/`, warmUpSeconds: WARM_UP_SECONDS, seconds: 1 });
    for (const t of targets) await t.warmUp();
    progress(`4. IDP: hello-world, introspection and grants (sqlite vs memory), logging variants (${rounds} alternating rounds)`);
    for (let round = 0; round < rounds; round++) {
      helloResult = better(helloResult, await load({ url: `http://127.0.0.1:${hello.ready.port}/`, cpu: () => hello.call<number>('cpu') }));
      for (const t of targets.slice(0, main.length)) {
        best(introspection, t.name, await t.introspect());
        best(grants, t.name, await t.grant());
      }
      // The logging variants alternate with the rest: measured once at the end they came out slower
      // than the logging one, an artefact of their place in the run.
      for (const t of targets.slice(main.length)) best(introspection, t.name, await t.introspect());
    }

    const [sqlite, memory, pg, again] = main.map(nameOf) as [string, string, string, string];
    const helloRps = capacity(helloResult!);
    return {
      hello: helloResult!,
      introspection,
      grants,
      ratios: {
        'introspection sqlite ÷ memory': capacity(introspection[sqlite]!) / capacity(introspection[memory]!),
        'grants sqlite ÷ memory': capacity(grants[sqlite]!) / capacity(grants[memory]!),
        'introspection postgres ÷ sqlite': capacity(introspection[pg]!) / capacity(introspection[sqlite]!),
        'grants postgres ÷ sqlite': capacity(grants[pg]!) / capacity(grants[sqlite]!),
        'introspection sqlite ÷ sqlite again (noise floor: 1.00 ideally)': capacity(introspection[sqlite]!) / capacity(introspection[again]!),
        'grants sqlite ÷ sqlite again (noise floor: 1.00 ideally)': capacity(grants[sqlite]!) / capacity(grants[again]!),
        'introspection sqlite ÷ hello-world': capacity(introspection[sqlite]!) / helloRps,
        'introspection memory ÷ hello-world': capacity(introspection[memory]!) / helloRps,
        'grants sqlite ÷ hello-world': capacity(grants[sqlite]!) / helloRps,
        ...Object.fromEntries(logging.map((v) => [`introspection ${label(v)} ÷ hello-world`, capacity(introspection[label(v)]!) / helloRps])),
      },
    };
  } finally {
    await Promise.all([hello.stop(), ...targets.map((t) => t.child.stop())]);
    await postgres.stop();
  }
}
