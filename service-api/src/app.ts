import express, { type Express } from 'express';
import type { Logger } from 'pino';
import { securityHeaders } from '../../lib/headers.ts';
import { createLogger } from '../../lib/log.ts';
import { createRegistry, expressMetrics, timedFetch } from '../../lib/metrics.ts';
import { requestLogAndHeaders } from '../../lib/server.ts';
import type { Registry } from 'prom-client';
import { requireBearer, requireScope } from './auth/bearer.ts';
import { TemporarilyUnavailable } from './auth/errors.ts';
import { createAutoVerifier } from './auth/dispatch.ts';
import { createIntrospectionVerifier, type IntrospectionVerifierOptions } from './auth/introspect.ts';
import { createJwtVerifier } from './auth/jwt.ts';
import type { TokenVerifier } from './auth/principal.ts';
import { createRevocations, type Revocations } from './auth/revocations.ts';
import { createSsfReceiver, type SsfReceiver, type SsfReceiverOptions } from './auth/ssfReceiver.ts';
import type { Config } from './config.ts';
import { errorHandler, notFound } from './errorHandler.ts';
import { introspectionCredentialsMonitor } from './introspectionCredentials.ts';
import { countAccepted, countScopeRefusals, serviceApiMetrics, type ServiceApiMetrics } from './metrics.ts';
import { health } from './routes/health.ts';
import { listReports } from './routes/reports.ts';
import { whoami } from './routes/whoami.ts';
import { chain } from './routes/chain.ts';
import { createTokenExchanger, type TokenExchanger } from './auth/exchangeToken.ts';

export type AppDeps = {
  /** Default: {@link createVerifier} for `config.tokenVerification`, using `now`. */
  verifier?: TokenVerifier;
  /** Clock for the default verifier (epoch ms). Default `Date.now`. */
  now?: () => number;
  log?: Logger;
  /** Default: one for `config.downstream.exchange`, when DOWNSTREAM_SERVICE_URL is set. */
  exchanger?: TokenExchanger;
  /** Where the app's metrics go (served at GET /metrics). Default: a fresh registry, no process metrics. */
  metrics?: Registry;
  /** Overrides of the revocation-event receiver's tuning (backoff, poll timeout, fetch) — for tests. */
  receiver?: Partial<Pick<SsfReceiverOptions, 'backoff' | 'pollTimeoutMs' | 'timeoutMs' | 'fetch'>>;
};

export type Service = {
  app: Express;
  /** With `REVOCATION_EVENTS=ssf` (and the default verifier): not started; main.ts starts and stops it. */
  receiver: SsfReceiver | undefined;
  revocations: Revocations | undefined;
};

/** Builds the service's express app; it never listens (main.ts and tests do). */
export function createApp(config: Config, deps: AppDeps = {}): Express {
  return createService(config, deps).app;
}

/** The app and, with revocation events on, the receiver that feeds its caches. */
export function createService(config: Config, deps: AppDeps = {}): Service {
  const log = deps.log ?? createLogger('service-api', config.logLevel);
  const registry = deps.metrics ?? createRegistry('service-api');
  const metrics = serviceApiMetrics(registry);
  // Only the default verifier reports on our credentials; an injected one is the caller's business.
  const credentials = config.introspection && introspectionCredentialsMonitor(log, config.introspection.clientId);
  const events = config.revocationEvents;
  const revocations = deps.verifier === undefined && events ? createRevocations({ now: deps.now, maxTtlWithEventsSeconds: events.maxTtlWithEventsSeconds }) : undefined;
  const verifier = deps.verifier ?? createVerifier(config, { now: deps.now, onCredentialsChange: credentials?.onCredentialsChange, revocations }, metrics);
  const receiver =
    revocations &&
    events &&
    createSsfReceiver({
      ...events,
      revocations,
      now: deps.now,
      log: log.child({ component: 'revocation-events' }),
      onSet: metrics.observeRevocationEvents(revocations),
      ...deps.receiver,
    });

  const app = express();
  app.disable('x-powered-by');
  // JSON only, but a browser may still be sent here: the same defaults as every other service.
  app.use(requestLogAndHeaders(log, securityHeaders()));

  app.get(
    '/healthz',
    health(
      () => credentials?.misconfiguration(),
      () => revocations && { mode: 'ssf', state: revocations.state, since: new Date(revocations.since).toISOString() },
    ),
  );
  app.use(expressMetrics(registry, config.metricsAllow));

  const v1 = express.Router();
  v1.use(
    requireBearer(verifier, {
      realm: config.realm,
      onError: (err) => {
        metrics.authError(err);
        // A refusal of our credentials was logged once, as the configuration error it is.
        if (err instanceof TemporarilyUnavailable && err.code !== 'ERR_CLIENT_CREDENTIALS_REJECTED') {
          log.warn({ err: err.cause }, 'token verification unavailable');
        }
      },
    }),
  );
  v1.use(countAccepted(metrics));
  // Parsed only for authenticated callers, so anonymous ones cannot make us parse bodies.
  v1.use(express.json({ limit: '16kb' }));
  v1.get('/whoami', whoami);
  v1.get('/reports', countScopeRefusals(metrics, requireScope('service.api')), listReports);
  // Without a downstream service there is no chain to show: the route does not exist (404).
  if (config.downstream) {
    const exchanger = deps.exchanger ?? createTokenExchanger({ ...config.downstream.exchange, ...(deps.now ? { now: deps.now } : {}) });
    v1.get('/chain', countScopeRefusals(metrics, requireScope('service.api')), chain(config.downstream, exchanger));
  }
  app.use('/v1', v1);

  app.use(notFound);
  app.use(errorHandler(log));
  return { app, receiver, revocations };
}

export type VerifierOptions = {
  /** Epoch ms. Default `Date.now`. */
  now?: (() => number) | undefined;
  /** See {@link IntrospectionVerifierOptions.onCredentialsChange}. */
  onCredentialsChange?: ((state: 'accepted' | 'rejected') => void) | undefined;
  /** Revocation events: what both verifiers' caches listen to. */
  revocations?: Revocations | undefined;
};

/**
 * The verifier `TOKEN_VERIFICATION` asks for: introspection, local JWT verification, or both (`auto`).
 * With `metrics`, its calls to the IDP are timed and its counters are read at every scrape.
 */
export function createVerifier(config: Config, { now = Date.now, onCredentialsChange, revocations }: VerifierOptions = {}, metrics?: ServiceApiMetrics): TokenVerifier {
  const introspection =
    config.introspection &&
    createIntrospectionVerifier({ ...config.introspection, now, onCredentialsChange, revocations, ...(metrics ? { fetch: timedFetch(metrics.introspectionSeconds) } : {}) });
  const jwt = config.jwt && createJwtVerifier({ ...config.jwt, now, revocations, ...(metrics ? { fetch: timedFetch(metrics.jwksSeconds) } : {}) });
  if (introspection) metrics?.observeIntrospection(introspection);
  if (jwt) metrics?.observeJwt(jwt);
  if (introspection !== undefined && jwt !== undefined) return createAutoVerifier({ jwt, introspection });
  const only = jwt ?? introspection;
  if (only === undefined) throw new TypeError('TOKEN_VERIFICATION: no verifier configured');
  return only;
}
