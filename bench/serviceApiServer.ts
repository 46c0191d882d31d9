// Service API (and Solutrix-API) app instances for the benchmarks, each on its own loopback port, in
// one process so that they run the same code, JIT state and logger. Commands (IPC) create instances
// and read their counters.
import express from 'express';
import { createServer } from 'node:http';
import { Env, loadOrExit } from '../lib/env.ts';
import { securityHeaders } from '../lib/headers.ts';
import { createLogger } from '../lib/log.ts';
import { listen, requestLogAndHeaders } from '../lib/server.ts';
import { createApp as createServiceApi } from '../service-api/src/app.ts';
import { createIntrospectionVerifier, type IntrospectionVerifier } from '../service-api/src/auth/introspect.ts';
import type { Principal, TokenVerifier } from '../service-api/src/auth/principal.ts';
import { loadConfig as loadServiceConfig } from '../service-api/src/config.ts';
import { errorHandler, notFound } from '../service-api/src/errorHandler.ts';
import { health } from '../service-api/src/routes/health.ts';
import { whoami } from '../service-api/src/routes/whoami.ts';
import { createApp as createSolutrix } from '../solutrix-api/src/app.ts';
import { loadConfig as loadSolutrixConfig } from '../solutrix-api/src/config.ts';
import { createServiceTokenClient, type ServiceTokenClient } from '../solutrix-api/src/security/serviceToken.ts';
import { serveCommands } from './children.ts';

// Read once, like a config module: the IDP the apps talk to (every app's own loadConfig gets these
// plus the command's extra settings) and the log level.
const { idpEnv, logLevel } = loadOrExit('bench service-api', () => {
  const env = new Env(process.env);
  const idpEnv: Record<string, string | undefined> = {};
  for (const name of ['IDP_ISSUER', 'IDP_INTROSPECTION_URL', 'INTROSPECTION_CLIENT_ID', 'INTROSPECTION_CLIENT_SECRET']) idpEnv[name] = env.optional(name);
  return { idpEnv, logLevel: env.logLevel() };
});
const log = createLogger('service-api', logLevel);
const solutrixLog = createLogger('solutrix-api', logLevel);

/** The principal the no-auth baseline hands to the route, as a verifier would. */
const PRINCIPAL: Principal = Object.freeze({ clientId: 'bench-caller', scopes: Object.freeze(['service.api']), kind: 'machine', expiresAt: 4102444800 });

/**
 * The Service API's middleware stack of service-api/src/app.ts minus `requireBearer`: request log and
 * headers, the same router, body parser, route and error handlers. The route still needs a principal, so a
 * one-line middleware puts a fixed one where requireBearer would. The difference to the real app is
 * the cost of authentication, nothing else.
 */
function noAuthApp(): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.use(requestLogAndHeaders(log, securityHeaders()));
  app.get('/healthz', health());
  const v1 = express.Router();
  v1.use((_req, res, next) => {
    res.locals.principal = PRINCIPAL;
    next();
  });
  v1.use(express.json({ limit: '16kb' }));
  v1.get('/whoami', whoami);
  app.use('/v1', v1);
  app.use(notFound);
  app.use(errorHandler(log));
  return app;
}

function serviceEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  return { LOG_LEVEL: logLevel, ...idpEnv, ...extra };
}

const verifiers = new Map<number, IntrospectionVerifier>();
const tokenClients = new Map<number, ServiceTokenClient>();

async function serve(app: express.Express): Promise<number> {
  return listen(createServer(app), 0, '127.0.0.1');
}

type AppArgs = {
  kind: 'noauth' | 'static' | 'introspection' | 'env';
  /** For 'env': extra environment for the app's own loadConfig (e.g. TOKEN_VERIFICATION=jwt). */
  env?: Record<string, string>;
  /** A virtual clock for the verifier: starts at `startMs`, advances `stepMs` with every request. */
  clock?: { startMs: number; stepMs: number };
};

serveCommands(
  {},
  {
    async app({ kind, env = {}, clock }: AppArgs) {
      if (kind === 'noauth') return { port: await serve(noAuthApp()) };
      const config = loadServiceConfig(serviceEnv(env));
      if (kind === 'static') {
        // The real app with a verifier that costs nothing: what remains is requireBearer itself.
        const verifier: TokenVerifier = { verify: async () => PRINCIPAL };
        return { port: await serve(createServiceApi(config, { verifier, log })) };
      }
      if (kind === 'env') return { port: await serve(createServiceApi(config, { log })) };
      let ticks = 0;
      const now = clock ? () => clock.startMs + ticks * clock.stepMs : Date.now;
      if (config.introspection === undefined) throw new Error('introspection is not configured');
      const verifier = createIntrospectionVerifier({ ...config.introspection, now });
      const inner = createServiceApi(config, { verifier, log, now });
      const app = express();
      if (clock) {
        app.use((_req, _res, next) => {
          ticks += 1;
          next();
        });
      }
      app.use(inner);
      const port = await serve(clock ? app : inner);
      verifiers.set(port, verifier);
      return { port };
    },
    stats({ port }: { port: number }) {
      return { ...verifiers.get(port)!.stats };
    },
    /** Solutrix-API as solutrix-api/src/main.ts builds it, with its token client's counters readable. */
    async solutrix(env: Record<string, string>) {
      const config = loadSolutrixConfig({ ...env });
      const serviceToken = createServiceTokenClient(config.serviceToken);
      const port = await serve(createSolutrix(config, { serviceToken, log: solutrixLog }));
      tokenClients.set(port, serviceToken);
      return { port };
    },
    tokenStats({ port }: { port: number }) {
      return { ...tokenClients.get(port)!.stats };
    },
  },
);
