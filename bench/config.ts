// The benchmarks' settings, read once from the environment through lib/env.ts (like a service's
// config module). Drivers that profile change `cpuProfileDir` and `seconds` here, not in process.env.
import { ConfigError, Env, loadOrExit, type LogLevel } from '../lib/env.ts';

export type BenchSettings = {
  phases: readonly string[];
  rounds: number;
  /** LOG_LEVEL of the processes measured. */
  logLevel: LogLevel;
  /** Each measured load run; `npm run bench` default 4. */
  seconds: number;
  connections: number;
  compareEndpoints: readonly ('introspect' | 'grant')[];
  storeOps: number;
  /** Operations in flight at once, as with concurrent HTTP requests (a store may batch them). */
  storeConcurrency: number;
  /** Phase 6a: revocations timed from /oauth/revoke answering to the Service API's first 401. */
  revocations: number;
  /** Phase 6b: the token's life in seconds (600 is the real one; the default 60 scales time by 10). */
  tokenLifeSeconds: number;
  /** When set, every benchmark server started from now on writes a V8 CPU profile there when it exits. */
  cpuProfileDir: string | undefined;
};

export const settings: BenchSettings = loadOrExit('bench', () => {
  const env = new Env(process.env);
  const endpoints = env.list('COMPARE_ENDPOINTS', 'introspect');
  for (const endpoint of endpoints) {
    if (endpoint !== 'introspect' && endpoint !== 'grant') throw new ConfigError('COMPARE_ENDPOINTS', `COMPARE_ENDPOINTS: "${endpoint}" is not introspect or grant`);
  }
  return {
    phases: env.list('BENCH_PHASES', 'service,idp,startup,revocation'),
    rounds: env.integer('BENCH_ROUNDS', 3, { min: 1, max: 100 }),
    logLevel: env.logLevel('BENCH_LOG_LEVEL'),
    seconds: env.integer('BENCH_SECONDS', 4, { min: 1, max: 3600 }),
    connections: env.integer('BENCH_CONNECTIONS', 20, { min: 1, max: 10_000 }),
    compareEndpoints: endpoints as ('introspect' | 'grant')[],
    storeOps: env.integer('STORE_OPS', 5000, { min: 1, max: 10_000_000 }),
    storeConcurrency: env.integer('STORE_CONCURRENCY', 1, { min: 1, max: 10_000 }),
    revocations: env.integer('BENCH_REVOCATIONS', 100, { min: 1, max: 10_000 }),
    tokenLifeSeconds: env.integer('BENCH_TOKEN_LIFE', 60, { min: 20, max: 3600 }),
    cpuProfileDir: env.optional('BENCH_CPU_PROF'),
  };
});
