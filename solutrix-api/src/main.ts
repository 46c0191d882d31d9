import { createServer } from 'node:http';
import { loadOrExit } from '../../lib/env.ts';
import { createLogger } from '../../lib/log.ts';
import { createRegistry } from '../../lib/metrics.ts';
import { exitOnSignal, listen } from '../../lib/server.ts';
import { shutdownTracing } from '../../lib/tracing.ts';
import { createApp } from './app.ts';
import { getConfig } from './config.ts';
import { sharedServiceTokenClient } from './security/serviceToken.ts';

// getConfig: the shared service-token client reads the same (process-wide) configuration.
const config = loadOrExit('solutrix-api', getConfig);
const log = createLogger('solutrix-api', config.logLevel);

const app = createApp(config, { serviceToken: sharedServiceTokenClient(), log, metrics: createRegistry('solutrix-api', { defaults: true }) });
const server = createServer(app);
const port = await listen(server, config.port, config.host);
log.info({ port, serviceApiUrl: config.serviceApiUrl, issuer: config.serviceToken.issuer }, 'solutrix-api listening');
exitOnSignal(server, log, shutdownTracing);
