import { createServer } from 'node:http';
import { createLogger } from '../../lib/log.ts';
import { exitOnSignal, listen } from '../../lib/server.ts';
import { createApp } from './app.ts';
import { loadConfig, type Config } from './config.ts';

const log = createLogger('service-api');
let config: Config;
try {
  config = loadConfig();
} catch (err) {
  log.fatal(`configuration: ${(err as Error).message}`);
  process.exit(1);
}
const server = createServer(createApp(config, { log }));
const port = await listen(server, config.port, config.host);
log.info(
  { port, tokenVerification: config.tokenVerification, introspection: config.introspection?.url, jwks: config.jwt?.jwksUrl, audience: (config.introspection ?? config.jwt)?.audience },
  'service-api listening',
);
exitOnSignal(server, log);
