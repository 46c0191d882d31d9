import { settings } from './config.ts';
import autocannon, { type Options } from 'autocannon';

export type LoadResult = {
  /** Successful (2xx) responses per second. */
  rps: number;
  p50: number;
  p99: number;
  requests: number;
  non2xx: number;
  errors: number;
  /**
   * CPU time the server process spent per request (user + system, µs), when the caller passed `cpu`.
   * Unlike req/s it hardly depends on what else the machine runs: the ratios are taken from it.
   */
  cpuUsPerRequest?: number;
};


/**
 * One autocannon run against a loopback URL, after a warm-up (1 s: keep-alive sockets, caches; the
 * first run against a fresh process needs longer, for the JIT: callers pass `warmUpSeconds`).
 * Bounded by `seconds`; a run with errors or non-2xx answers is reported, not hidden.
 */
export async function load(
  options: Omit<Options, 'duration'> & { seconds?: number; warmUpSeconds?: number; cpu?: () => Promise<number> },
): Promise<LoadResult> {
  const url = new URL(options.url);
  if (!['127.0.0.1', 'localhost', '[::1]'].includes(url.hostname)) throw new Error(`load tests target loopback only, not ${url.hostname}`);
  const { seconds = settings.seconds, warmUpSeconds = 1, cpu, ...rest } = options;
  const base = { connections: settings.connections, timeout: 10, ...rest };
  await autocannon({ ...base, duration: warmUpSeconds });
  const cpuBefore = await cpu?.();
  const result = await autocannon({ ...base, duration: seconds });
  const cpuAfter = await cpu?.();
  return {
    ...(cpuBefore === undefined || cpuAfter === undefined ? {} : { cpuUsPerRequest: Math.round((cpuAfter - cpuBefore) / result.requests.total) }),
    rps: Math.round(result['2xx'] / result.duration),
    p50: result.latency.p50,
    p99: result.latency.p99,
    requests: result.requests.total,
    non2xx: result.non2xx,
    errors: result.errors + result.timeouts,
  };
}

/** Throughput one core could sustain for this server: 1 s ÷ CPU per request (falls back to measured req/s). */
export const capacity = (r: LoadResult) => (r.cpuUsPerRequest ? 1e6 / r.cpuUsPerRequest : r.rps);

const failures = (r: LoadResult) => r.non2xx + r.errors;

/**
 * The better of two runs of the same thing: fewer failed requests first (a run of fast errors must
 * not win), then less CPU per request (or, without CPU figures, more req/s).
 */
export const better = (a: LoadResult | undefined, b: LoadResult) => {
  if (a === undefined) return b;
  if (failures(a) !== failures(b)) return failures(b) < failures(a) ? b : a;
  return capacity(b) > capacity(a) ? b : a;
};
