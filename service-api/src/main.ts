import { createServer } from 'node:http';
import { loadOrExit } from '../../lib/env.ts';
import { createLogger } from '../../lib/log.ts';
import { createRegistry } from '../../lib/metrics.ts';
import { exitOnSignal, listen } from '../../lib/server.ts';
import { shutdownTracing } from '../../lib/tracing.ts';
import { createApp } from './app.ts';
import { loadConfig } from './config.ts';

const config = loadOrExit('service-api', () => loadConfig(process.env));
const log = createLogger('service-api', config.logLevel);
const server = createServer(createApp(config, { log, metrics: createRegistry('service-api', { defaults: true }) }));
const port = await listen(server, config.port, config.host);
log.info(
  { port, tokenVerification: config.tokenVerification, introspection: config.introspection?.url, jwks: config.jwt?.jwksUrl, audience: (config.introspection ?? config.jwt)?.audience },
  'service-api listening',
);
exitOnSignal(server, log, shutdownTracing);
