import { createServer } from 'node:http';
import { createLogger } from '../../lib/log.ts';
import { exitOnSignal, listen } from '../../lib/server.ts';
import { createApp } from './app.ts';
import { getConfig } from './config.ts';

const log = createLogger('solutrix-api');

let config;
try {
  config = getConfig();
} catch (err) {
  // Configuration errors name the variable; a stack trace would only hide that.
  log.fatal({ reason: (err as Error).message }, 'invalid configuration');
  process.exit(1);
}

// createApp builds the process's one service-token client from config.serviceToken.
const app = createApp(config, { log });
const server = createServer(app);
const port = await listen(server, config.port, config.host);
log.info({ port, serviceApiUrl: config.serviceApiUrl, issuer: config.serviceToken.issuer }, 'solutrix-api listening');
exitOnSignal(server, log);
