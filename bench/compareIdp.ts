// `tsx bench/compareIdp.ts 'name:KEY=VAL,KEY=VAL' ...`: A/B of IDP variants (env of
// idpServer.ts, e.g. BENCH_IDP_SRC=.data/bench/exp/idp-x, BENCH_LOG_DEST=async, LOG_LEVEL=silent,
// BENCH_IDP_STORE=memory|postgres, BENCH_STDOUT=ignore for /dev/null instead of a pipe), alternating runs; prints server CPU per request and ratios to the first.
// A postgres variant without IDP_DATABASE_URL gets a database of its own on one throwaway local server.
// COMPARE_ENDPOINTS=introspect,grant  BENCH_ROUNDS=3  BENCH_SECONDS=4
import { settings } from './config.ts';
import { better, capacity, type LoadResult } from './load.ts';
import { startIdpVariant, type IdpVariant, type Target } from './idp.ts';
import { startPostgres, type TestPostgres } from '../test/support/postgres.ts';

const specs = process.argv.slice(2).map((arg) => {
  const [name, rest = ''] = arg.split(':');
  const env = Object.fromEntries(rest.split(',').filter(Boolean).map((kv) => kv.split('=') as [string, string]));
  return { name: name!, env };
});
const endpoints = settings.compareEndpoints;
const { rounds } = settings;
const targets: Target[] = [];
let postgres: TestPostgres | undefined;
try {
  for (const [i, { name, env }] of specs.entries()) {
    const store = (env.BENCH_IDP_STORE as IdpVariant['store'] | undefined) ?? 'sqlite';
    if (store === 'postgres' && !env.IDP_DATABASE_URL) {
      postgres ??= await startPostgres();
      env.IDP_DATABASE_URL = await postgres.createDatabase(`idp_compare_${i}`);
    }
    targets.push(
      await startIdpVariant({
        name,
        store,
        logLevel: env.LOG_LEVEL ?? 'info',
        stdout: env.BENCH_STDOUT === 'ignore' ? 'ignore' : 'pipe',
        env,
      }),
    );
  }
  for (const t of targets) await t.warmUp();
  const best: Record<string, LoadResult> = {};
  for (let round = 0; round < rounds; round++) {
    for (const endpoint of endpoints) {
      for (const t of targets) {
        const r = await t[endpoint]();
        best[`${endpoint} ${t.name}`] = better(best[`${endpoint} ${t.name}`], r);
        console.error(`round ${round + 1} ${endpoint} ${t.name}: ${r.rps} req/s, ${r.cpuUsPerRequest} µs CPU/req`);
      }
    }
  }
  for (const endpoint of endpoints) {
    const base = best[`${endpoint} ${targets[0]!.name}`]!;
    for (const t of targets) {
      const r = best[`${endpoint} ${t.name}`]!;
      console.log(`${endpoint.padEnd(10)} ${t.name.padEnd(24)} ${String(r.cpuUsPerRequest).padStart(5)} µs CPU/req  ${String(r.rps).padStart(6)} req/s  × ${(capacity(r) / capacity(base)).toFixed(2)}`);
    }
  }
} finally {
  await Promise.all(targets.map((t) => t.child.stop()));
  await postgres?.stop();
}
