import { createServer } from 'node:http';
import { loadOrExit } from '../../lib/env.ts';
import { createLogger } from '../../lib/log.ts';
import { createRegistry } from '../../lib/metrics.ts';
import { exitOnSignal, listen } from '../../lib/server.ts';
import { shutdownTracing } from '../../lib/tracing.ts';
import { createService } from './app.ts';
import { loadConfig } from './config.ts';

const config = loadOrExit('service-api', () => loadConfig(process.env));
const log = createLogger('service-api', config.logLevel);
const { app, receiver } = createService(config, { log, metrics: createRegistry('service-api', { defaults: true }) });
const server = createServer(app);
const port = await listen(server, config.port, config.host);
log.info(
  { port, tokenVerification: config.tokenVerification, revocationEvents: config.revocationEvents ? config.revocationEvents.configurationUrl : 'off', introspection: config.introspection?.url, jwks: config.jwt?.jwksUrl, audience: (config.introspection ?? config.jwt)?.audience },
  'service-api listening',
);
receiver?.start();
// Our stream is deleted before we go: the IDP stops queuing events nobody will poll.
exitOnSignal(server, log, async () => {
  await receiver?.stop();
  await shutdownTracing();
});
