import { createServer } from 'node:http';
import { loadOrExit } from '../../lib/env.ts';
import { createLogger } from '../../lib/log.ts';
import { createRegistry } from '../../lib/metrics.ts';
import { exitOnSignal, listen } from '../../lib/server.ts';
import { shutdownTracing } from '../../lib/tracing.ts';
import { createApp } from './app.ts';
import { loadConfig } from './config.ts';

const config = loadOrExit('solutrix-api', () => loadConfig(process.env));
const log = createLogger('solutrix-api', config.logLevel);

// createApp builds the process's one service-token client from config.serviceToken.
const app = createApp(config, { log, metrics: createRegistry('solutrix-api', { defaults: true }) });
const server = createServer(app);
const port = await listen(server, config.port, config.host);
log.info({ port, serviceApiUrl: config.serviceApiUrl, issuer: config.serviceToken.issuer }, 'solutrix-api listening');
exitOnSignal(server, log, shutdownTracing);
