import type { RequestHandler } from 'express';
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { CALL_BUCKETS } from '../../lib/metrics.ts';
import { InvalidRequest, InvalidToken, MissingToken, TemporarilyUnavailable, type AuthError } from './auth/errors.ts';
import type { IntrospectionVerifier } from './auth/introspect.ts';
import type { JwtVerifier } from './auth/jwt.ts';
import type { Revocations } from './auth/revocations.ts';
import type { SsfReceiverOptions } from './auth/ssfReceiver.ts';

/** Every value the `outcome` label can take: a fixed set, whatever callers send. */
export const AUTH_OUTCOMES = ['ok', 'missing_token', 'invalid_request', 'invalid_token', 'insufficient_scope', 'unavailable'] as const;
export type AuthOutcome = (typeof AUTH_OUTCOMES)[number];

export type ServiceApiMetrics = {
  authOutcome(outcome: AuthOutcome): void;
  /** The outcome of an error `requireBearer` answered. */
  authError(err: AuthError): void;
  introspectionSeconds: Histogram<'status'>;
  jwksSeconds: Histogram<'status'>;
  /** Reads the verifier's own counters at every scrape (the verifier kit imports no metrics library). */
  observeIntrospection(verifier: IntrospectionVerifier): void;
  observeJwt(verifier: JwtVerifier): void;
  /** The revocation-event stream: its state at every scrape, and what `onSet` reports. */
  observeRevocationEvents(revocations: Revocations): NonNullable<SsfReceiverOptions['onSet']>;
};

/** Fixed label sets of the revocation-event metrics. */
const APPLIED_KINDS = ['token', 'jwt', 'session', 'client', 'subject', 'stream-updated'] as const;
const SET_ERRORS = ['invalid_request', 'invalid_key', 'invalid_issuer', 'invalid_audience'] as const;
const EVENT_STATES = ['connecting', 'connected', 'fallback'] as const;

/**
 * The Service API's metrics in `registry`. Labels are fixed sets (outcome, result, HTTP status):
 * never a token, a client id from a token, or a path.
 */
export function serviceApiMetrics(registry: Registry): ServiceApiMetrics {
  const registers = [registry];
  const auth = new Counter({
    name: 'service_api_auth_total',
    help: 'Requests to /v1 by authentication outcome (ok: token accepted; insufficient_scope is counted after ok)',
    labelNames: ['outcome'] as const,
    registers,
  });
  for (const outcome of AUTH_OUTCOMES) auth.labels(outcome);
  const introspectionSeconds = new Histogram({
    name: 'service_api_introspection_duration_seconds',
    help: 'Calls to the IDP introspection endpoint, time to response headers, by HTTP status (error: no answer)',
    labelNames: ['status'] as const,
    buckets: CALL_BUCKETS,
    registers,
  });
  const jwksSeconds = new Histogram({
    name: 'service_api_jwks_duration_seconds',
    help: 'Calls to the IDP JWKS endpoint, time to response headers, by HTTP status (error: no answer)',
    labelNames: ['status'] as const,
    buckets: CALL_BUCKETS,
    registers,
  });

  const counter = (name: string, help: string, read: () => number) =>
    new Counter({
      name,
      help,
      registers,
      collect() {
        this.reset();
        this.inc(read());
      },
    });

  return {
    authOutcome: (outcome) => auth.inc({ outcome }),
    authError(err) {
      const outcome: AuthOutcome =
        err instanceof TemporarilyUnavailable ? 'unavailable'
        : err instanceof InvalidToken ? 'invalid_token'
        : err instanceof InvalidRequest ? 'invalid_request'
        : err instanceof MissingToken ? 'missing_token'
        : 'insufficient_scope';
      auth.inc({ outcome });
    },
    introspectionSeconds,
    jwksSeconds,
    observeIntrospection(verifier) {
      new Counter({
        name: 'service_api_introspection_cache_total',
        help: 'Opaque-token lookups: hit (cached answer), miss (introspected at the IDP), coalesced (joined an introspection in flight)',
        labelNames: ['result'] as const,
        registers,
        collect() {
          this.reset();
          this.inc({ result: 'hit' }, verifier.stats.cacheHits);
          this.inc({ result: 'miss' }, verifier.stats.introspections);
          this.inc({ result: 'coalesced' }, verifier.stats.coalesced);
        },
      });
      counter('service_api_introspection_cache_evictions_total', 'Cached introspection results pushed out by the size bound before they expired', () => verifier.stats.evictions);
      counter('service_api_introspection_failures_total', 'Introspections that ended in 503 (IDP unreachable, timed out, 5xx, unreadable)', () => verifier.stats.failures);
      new Gauge({
        name: 'service_api_introspection_cache_entries',
        help: 'Introspection results currently cached (keyed on token digests)',
        registers,
        collect() {
          this.set(verifier.cacheKeys().length);
        },
      });
    },
    observeJwt(verifier) {
      counter('service_api_jwt_verifications_total', 'JWT access tokens checked by signature (cache misses)', () => verifier.stats.verifications);
      counter('service_api_jwt_cache_hits_total', 'JWT access tokens answered from the principal cache', () => verifier.stats.cacheHits);
      counter('service_api_jwks_fetches_total', 'Requests to the JWKS endpoint', () => verifier.stats.jwksFetches);
      counter('service_api_jwks_failures_total', 'JWKS fetches that failed', () => verifier.stats.failures);
    },
    observeRevocationEvents(revocations) {
      const applied = new Counter({
        name: 'service_api_revocation_events_applied_total',
        help: 'Verified revocation events (SETs) applied to the caches, by what they named (stream-updated: lost events, caches flushed)',
        labelNames: ['kind'] as const,
        registers,
      });
      for (const kind of APPLIED_KINDS) applied.inc({ kind }, 0);
      const rejected = new Counter({
        name: 'service_api_revocation_sets_rejected_total',
        help: 'SETs that failed verification, not applied, reported back in setErrs (RFC 8936 error code)',
        labelNames: ['error'] as const,
        registers,
      });
      for (const error of SET_ERRORS) rejected.inc({ error }, 0);
      const duplicates = new Counter({ name: 'service_api_revocation_sets_duplicate_total', help: 'SETs delivered again after being applied: acknowledged, not applied twice', registers });
      new Gauge({
        name: 'service_api_revocation_events_state',
        help: 'The revocation-event stream: 1 for its current state (connected: caches may live until exp)',
        labelNames: ['state'] as const,
        registers,
        collect() {
          for (const state of EVENT_STATES) this.set({ state }, revocations.state === state ? 1 : 0);
        },
      });
      return (result) => {
        if ('applied' in result) applied.inc({ kind: result.applied });
        else if ('rejected' in result) rejected.inc({ error: result.rejected });
        else duplicates.inc();
      };
    },
  };
}

/** After `requireBearer`: the token was accepted. */
export function countAccepted(metrics: ServiceApiMetrics): RequestHandler {
  return (_req, _res, next) => {
    metrics.authOutcome('ok');
    next();
  };
}

/**
 * Wraps a scope guard (`requireScope`): when it answers instead of passing on, the request was
 * refused for insufficient scope. The guard decides synchronously, before it returns.
 */
export function countScopeRefusals(metrics: ServiceApiMetrics, guard: RequestHandler): RequestHandler {
  return (req, res, next) => {
    let passed = false;
    guard(req, res, (err?: unknown) => {
      passed = true;
      next(err);
    });
    if (!passed && res.headersSent) metrics.authOutcome('insufficient_scope');
  };
}
