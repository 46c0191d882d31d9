import { createServer } from 'node:http';
import { join } from 'node:path';
import { createLogger } from '../../lib/log.ts';
import { exitOnSignal, listen } from '../../lib/server.ts';
import { createApp } from './app.ts';
import { loadConfig } from './config.ts';
import { loadSecrets } from './keys.ts';
import { openSqliteStore } from './store/sqlite.ts';

const log = createLogger('idp');
const config = loadConfig();
const secrets = await loadSecrets(config.dataDir, { adminToken: config.adminToken });
const store = openSqliteStore(join(config.dataDir, 'idp.sqlite'));
const { app } = createApp(config, secrets, store, log);

const purge = setInterval(() => {
  try {
    const purged = store.purgeExpired();
    if (purged) log.debug({ purged }, 'purged expired rows');
  } catch (err) {
    log.error({ err }, 'purge failed');
  }
}, 60_000).unref();

const server = createServer(app.callback());
const port = await listen(server, config.port, config.host);
if (secrets.adminTokenFile) log.info({ file: secrets.adminTokenFile }, 'admin token is in this file (IDP_ADMIN_TOKEN was not set)');
log.info({ port, issuer: config.issuer, dataDir: config.dataDir }, 'idp listening');
exitOnSignal(server, log, () => {
  clearInterval(purge);
  store.close();
});
