import { createServer } from 'node:http';
import { loadOrExit } from '../../lib/env.ts';
import { createLogger } from '../../lib/log.ts';
import { createRegistry } from '../../lib/metrics.ts';
import { exitOnSignal, listen } from '../../lib/server.ts';
import { shutdownTracing } from '../../lib/tracing.ts';
import { createApp } from './app.ts';
import { loadConfig } from './config.ts';
import { dataDirKeys, sharedKeys, watchKeys } from './keyring.ts';
import { loadSecrets, loadSharedSecrets } from './keys.ts';
import { StoreUnusableError } from './store/errors.ts';
import { storeMetrics } from './metrics.ts';
import { openStore } from './store/index.ts';
import { timedStore } from './store/timed.ts';

const config = loadOrExit('idp', () => loadConfig(process.env));
const log = createLogger('idp', config.logLevel);
const registry = createRegistry('idp', { defaults: true });
const store = await openStore(config, { onError: (err) => log.warn({ err }, 'idle database connection failed') }).catch((err: unknown) => {
  // A damaged, unwritable or busy store is the operator's to fix: say which and where, no stack trace.
  if (!(err instanceof StoreUnusableError)) throw err;
  log.fatal(err.message);
  process.exit(1);
});
// With a shared store (PostgreSQL) config guarantees an admin token: replicas must agree on it.
const secrets = store.settings
  ? await loadSharedSecrets(store.settings, config.adminToken!)
  : await loadSecrets(config.dataDir, { adminToken: config.adminToken });
// `npm run keys` changes the keys in the store or the data dir; every replica follows without a restart.
const keyring = await watchKeys(store.settings ? sharedKeys(store.settings) : dataDirKeys(config.dataDir), secrets.jwks, {
  refreshIntervalMs: config.keysRefreshInterval * 1000,
  onError: (err) => log.error({ err }, 'signing keys not reloaded; the previous ones stay in force'),
});
const { app } = createApp(config, secrets, timedStore(store, config.databaseUrl ? 'postgres' : 'sqlite', storeMetrics(registry)), log, { metrics: registry, keyring });

// In the background: a purge never delays a request, and one still running is not started again.
let purging: Promise<void> | undefined;
const purge = setInterval(() => {
  purging ??= store
    .purgeExpired()
    .then((purged) => {
      if (purged) log.debug({ purged }, 'purged expired rows');
    })
    .catch((err: unknown) => log.error({ err }, 'purge failed'))
    .finally(() => (purging = undefined));
}, 60_000).unref();

const server = createServer(app.callback());
const port = await listen(server, config.port, config.host);
if (secrets.adminTokenFile) log.info({ file: secrets.adminTokenFile }, 'admin token is in this file (IDP_ADMIN_TOKEN was not set)');
if (config.introspectors.length) {
  log.warn({ clients: config.introspectors }, 'IDP_INTROSPECTORS is deprecated: these clients may introspect every token; list resource servers in a client\'s "introspects" instead');
}
log.info({ port, issuer: config.issuer, store: config.databaseUrl ? 'postgres' : 'sqlite', dataDir: config.dataDir }, 'idp listening');
exitOnSignal(server, log, async () => {
  clearInterval(purge);
  await keyring.close();
  await purging;
  await store.close();
  await shutdownTracing();
});
