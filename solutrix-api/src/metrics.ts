import { Counter, Histogram, type Registry } from 'prom-client';
import { CALL_BUCKETS } from '../../lib/metrics.ts';
import type { ServiceTokenClient } from './security/serviceToken.ts';

export type SolutrixMetrics = {
  /** Calls to the Service API, time to response headers, by HTTP status (error: no answer). */
  downstreamSeconds: Histogram<'status'>;
  /** Reads the token client's own counters at every scrape. */
  observeServiceToken(client: Pick<ServiceTokenClient, 'stats'>): void;
};

/** Solutrix-API's metrics in `registry`; labels are fixed sets (reason, HTTP status). */
export function solutrixMetrics(registry: Registry): SolutrixMetrics {
  const registers = [registry];
  const downstreamSeconds = new Histogram({
    name: 'solutrix_service_api_call_duration_seconds',
    help: 'Calls to the Service API, time to response headers, by HTTP status (error: unreachable or timed out)',
    labelNames: ['status'] as const,
    buckets: CALL_BUCKETS,
    registers,
  });
  let observed = false;
  return {
    downstreamSeconds,
    observeServiceToken(client) {
      if (observed) throw new Error('observeServiceToken: one token client per registry');
      observed = true;
      new Counter({
        name: 'solutrix_service_token_cache_hits_total',
        help: 'Service-token lookups answered from the cache',
        registers,
        collect() {
          this.reset();
          this.inc(client.stats.cacheHits);
        },
      });
      new Counter({
        name: 'solutrix_service_token_requests_total',
        help: 'Token requests sent to the IDP (client_credentials), failed ones included',
        registers,
        collect() {
          this.reset();
          this.inc(client.stats.tokenRequests);
        },
      });
      new Counter({
        name: 'solutrix_service_token_failures_total',
        help: 'Service-token lookups that got no token, by reason (unavailable: IDP down or 5xx; rejected: IDP refused; invalid_response)',
        labelNames: ['reason'] as const,
        registers,
        collect() {
          this.reset();
          for (const [reason, count] of Object.entries(client.stats.failures)) this.inc({ reason }, count);
        },
      });
    },
  };
}
