import { createServer } from 'node:http';
import { loadOrExit } from '../../lib/env.ts';
import { createLogger } from '../../lib/log.ts';
import { exitOnSignal, listen } from '../../lib/server.ts';
import { createApp } from './app.ts';
import { getConfig } from './config.ts';

// getConfig: the shared service-token client reads the same (process-wide) configuration.
const config = loadOrExit('solutrix-api', getConfig);
const log = createLogger('solutrix-api', config.logLevel);

// createApp builds the process's one service-token client from config.serviceToken.
const app = createApp(config, { log });
const server = createServer(app);
const port = await listen(server, config.port, config.host);
log.info({ port, serviceApiUrl: config.serviceApiUrl, issuer: config.serviceToken.issuer }, 'solutrix-api listening');
exitOnSignal(server, log);
