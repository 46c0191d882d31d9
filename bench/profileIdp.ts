// `tsx bench/profileIdp.ts sqlite|memory|postgres introspect|grant [LOG_LEVEL] [seconds]`: one IDP under
// load with --cpu-prof, then where its time went. Profiles land in .data/bench/profiles/.
// With postgres: a throwaway server with pg_stat_statements, and what the IDP asked of it per request
// (statements and their calls), since the driver's round trips are what PostgreSQL adds.
import { mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import pg from 'pg';
import { ROOT } from '../test/support/process.ts';
import { startPostgres, type TestPostgres } from '../test/support/postgres.ts';
import { settings } from './config.ts';
import { startIdpVariant } from './idp.ts';

const [store = 'sqlite', endpoint = 'introspect', logLevel = 'info', seconds = '5'] = process.argv.slice(2);
if (store !== 'sqlite' && store !== 'memory' && store !== 'postgres') throw new TypeError(`store must be sqlite, memory or postgres, not ${store}`);
const dir = join(ROOT, '.data/bench/profiles', `${store}-${endpoint}-${logLevel}-${Date.now()}`);
mkdirSync(dir, { recursive: true });
settings.cpuProfileDir = dir;
settings.seconds = Number(seconds);

let postgres: TestPostgres | undefined;
let stats: pg.Client | undefined;
const env: Record<string, string> = {};
if (store === 'postgres') {
  postgres = await startPostgres({ serverSettings: { shared_preload_libraries: 'pg_stat_statements', 'pg_stat_statements.track': 'all' } });
  env.IDP_DATABASE_URL = await postgres.createDatabase('idp_profile');
  stats = new pg.Client({ connectionString: env.IDP_DATABASE_URL });
  await stats.connect();
  await stats.query('CREATE EXTENSION pg_stat_statements');
}
const COUNTED = 500;
try {
  const target = await startIdpVariant({ store, logLevel, stdout: 'pipe', env });
  await target.warmUp();
  const result = endpoint === 'grant' ? await target.grant() : await target.introspect();
  console.log(`${target.name} ${endpoint}: ${result.rps} req/s, p50 ${result.p50} ms, p99 ${result.p99} ms, ${result.cpuUsPerRequest} µs IDP CPU/req`);
  if (stats) {
    // Exactly COUNTED requests, one at a time, between a reset and the read: the statements per request.
    await stats.query('SELECT pg_stat_statements_reset()');
    for (let i = 0; i < COUNTED; i++) await (await target.once(endpoint === 'grant' ? 'grant' : 'introspect')).arrayBuffer();
    const { rows } = await stats.query<{ calls: string; ms: number; query: string }>(
      `SELECT calls, total_exec_time AS ms, query FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
         AND query NOT LIKE '%pg_stat%' ORDER BY calls DESC`,
    );
    const statements = rows.reduce((a, r) => a + Number(r.calls), 0);
    console.log(`\nPostgreSQL, ${COUNTED} sequential requests: ${(statements / COUNTED).toFixed(2)} statements (round trips) per request (a statement outside BEGIN … COMMIT is a transaction of its own)`);
    for (const row of rows) {
      console.log(`${(Number(row.calls) / COUNTED).toFixed(2).padStart(6)} / req  ${((row.ms * 1000) / Number(row.calls)).toFixed(0).padStart(4)} µs in the server  ${row.query.replace(/\s+/g, ' ').slice(0, 120)}`);
    }
  }
  await target.child.stop();
} finally {
  await stats?.end();
  await postgres?.stop();
}
const main = readdirSync(dir).filter((f) => f.endsWith('.cpuprofile')).sort().find((f) => /\.0\.\d+\.cpuprofile$/.test(f));
spawnSync(process.execPath, ['--import', 'tsx', join(ROOT, 'bench/profileSummary.ts'), join(dir, main!), '30'], { stdio: 'inherit' });
