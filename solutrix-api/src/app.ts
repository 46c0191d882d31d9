import express, { type Express } from 'express';
import type { Logger } from 'pino';
import { securityHeaders } from '../../lib/headers.ts';
import { createLogger } from '../../lib/log.ts';
import { createRegistry, expressMetrics, timedFetch } from '../../lib/metrics.ts';
import { requestLogAndHeaders } from '../../lib/server.ts';
import type { Registry } from 'prom-client';
import type { Config } from './config.ts';
import { solutrixMetrics } from './metrics.ts';
import { errorHandler, notFound } from './middleware/errorHandler.ts';
import { healthRouter } from './routes/health.ts';
import { serviceRouter } from './routes/service.ts';
import { createServiceTokenClient, type ServiceTokenClient } from './security/serviceToken.ts';
import { createServiceApi } from './serviceApi.ts';
import { webRouter, type WebDeps } from './web/router.ts';

export interface AppDeps {
  /**
   * The client of Solutrix-API's own service token. Default: one built from `config.serviceToken`,
   * shared by every route of this app (its cache and single-flight table are per process).
   */
  serviceToken?: ServiceTokenClient;
  log?: Logger;
  /** Where the app's metrics go (served at GET /metrics). Default: a fresh registry, no process metrics. */
  metrics?: Registry;
  /** Overrides for the web login (clock, IDP client); it is mounted only when `config.web` is set. */
  web?: Partial<Omit<WebDeps, 'machineApi' | 'log'>>;
}

/** Builds the app; never listens (main.ts does, tests listen on port 0). */
export function createApp(config: Config, deps: AppDeps = {}): Express {
  const log = deps.log ?? createLogger('solutrix-api', config.logLevel);
  const serviceToken = deps.serviceToken ?? createServiceTokenClient(config.serviceToken);
  const registry = deps.metrics ?? createRegistry('solutrix-api');
  const metrics = solutrixMetrics(registry);
  metrics.observeServiceToken(serviceToken);
  const serviceApi = createServiceApi({
    baseUrl: config.serviceApiUrl,
    tokens: serviceToken,
    timeoutMs: config.serviceApiTimeoutMs,
    fetch: timedFetch(metrics.downstreamSeconds),
  });

  const app = express();
  app.disable('x-powered-by');
  // Defaults for every response (JSON, redirects, errors); sendPage sets the pages' own nonce CSP.
  app.use(requestLogAndHeaders(log, securityHeaders()));
  app.use(healthRouter());
  app.use(expressMetrics(registry, config.metricsAllow));
  app.use(serviceRouter(serviceApi));
  // The end-user web login (BFF: /, /login, /callback, session).
  if (config.web !== undefined) {
    app.use(webRouter({ ...config, web: config.web }, { ...deps.web, machineApi: serviceApi, log }));
  }
  app.use(notFound);
  app.use(errorHandler(log));
  return app;
}
