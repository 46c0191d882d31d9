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
  /** Phase 7 (scale): live tokens in the store at each step, SQLite and PostgreSQL. */
  scaleSizes: readonly number[];
  scalePostgresSizes: readonly number[];
  /** Phase 7 (scale): distinct tokens sent through one Service API process (its introspection cache); 0 skips it. */
  scaleCachedTokens: number;
  /** When set, every benchmark server started from now on writes a V8 CPU profile there when it exits. */
  cpuProfileDir: string | undefined;
};

export const settings: BenchSettings = loadOrExit('bench', () => {
  const env = new Env(process.env);
  const endpoints = env.list('COMPARE_ENDPOINTS', 'introspect');
  for (const endpoint of endpoints) {
    if (endpoint !== 'introspect' && endpoint !== 'grant') throw new ConfigError('COMPARE_ENDPOINTS', `COMPARE_ENDPOINTS: "${endpoint}" is not introspect or grant`);
  }
  // "none" skips that store.
  const sizes = (name: string, fallback: string) =>
    env.list(name, fallback).filter((size) => size !== 'none').map((size) => {
      if (!/^\d+$/.test(size) || Number(size) < 1 || Number(size) > 10_000_000) throw new ConfigError(name, `${name}: "${size}" is not a token count from 1 to 10000000`);
      return Number(size);
    });
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
    scaleSizes: sizes('BENCH_SCALE_SIZES', '10000,100000,1000000'),
    scalePostgresSizes: sizes('BENCH_SCALE_PG_SIZES', '10000,100000'),
    scaleCachedTokens: env.integer('BENCH_SCALE_CACHED', 100_000, { min: 0, max: 10_000_000 }),
    cpuProfileDir: env.optional('BENCH_CPU_PROF'),
  };
});
