// The IDP as idp/src/main.ts builds it, with the store chosen by BENCH_IDP_STORE (sqlite | memory |
// postgres, the last with IDP_DATABASE_URL): the same app, configuration, keys and logging, so the
// variants differ only in storage.
// Experiments (compareIdp.ts): BENCH_IDP_SRC=dir loads app.ts etc. from a modified copy of idp/src;
// BENCH_LOG_DEST=async logs through an asynchronous pino destination; BENCH_IDP_BARE=1 mounts the
// provider alone, without this project's koa middlewares (what they cost).
import Koa from 'koa';
import mount from 'koa-mount';
import { createServer } from 'node:http';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { pino } from 'pino';
import { ConfigError, Env, loadOrExit } from '../lib/env.ts';
import { createLogger } from '../lib/log.ts';
import { listen } from '../lib/server.ts';
import { serveCommands } from './children.ts';
import { memoryStore } from './memoryStore.ts';

type Src = {
  app: typeof import('../idp/src/app.ts');
  config: typeof import('../idp/src/config.ts');
  keys: typeof import('../idp/src/keys.ts');
  store: typeof import('../idp/src/store/index.ts');
  provider: typeof import('../idp/src/provider.ts');
};
// The experiment's own settings, read once like a config module.
const bench = loadOrExit('bench idp', () => {
  const env = new Env(process.env);
  return {
    src: env.optional('BENCH_IDP_SRC'),
    asyncLog: env.oneOf('BENCH_LOG_DEST', ['sync', 'async'] as const, 'sync') === 'async',
    store: env.oneOf('BENCH_IDP_STORE', ['sqlite', 'memory', 'postgres'] as const, 'sqlite'),
    bare: env.optional('BENCH_IDP_BARE') !== undefined,
  };
});
const srcDir = bench.src ? pathToFileURL(`${resolve(bench.src)}/`).href : new URL('../idp/src/', import.meta.url).href;
const load = async <K extends keyof Src>(file: string): Promise<Src[K]> => import(new URL(file, srcDir).href);
const { createApp } = await load<'app'>('app.ts');
const { loadConfig } = await load<'config'>('config.ts');
const { loadSecrets, loadSharedSecrets } = await load<'keys'>('keys.ts');
const { openStore } = await load<'store'>('store/index.ts');

const config = loadOrExit('bench idp', () => {
  const loaded = loadConfig(process.env);
  // openStore picks PostgreSQL from IDP_DATABASE_URL alone: without it "postgres" would measure SQLite.
  if ((bench.store === 'postgres') !== (loaded.databaseUrl !== undefined)) throw new ConfigError('BENCH_IDP_STORE', 'BENCH_IDP_STORE=postgres goes with IDP_DATABASE_URL, and only it');
  return loaded;
});
const log = bench.asyncLog
  ? pino(
      { name: 'idp', level: config.logLevel, base: { service: 'idp' }, redact: { paths: ['req.headers.authorization'], censor: '[redacted]' } },
      pino.destination({ dest: 1, sync: false, minLength: 4096 }),
    )
  : createLogger('idp', config.logLevel);
// openStore is what main.ts uses: SQLite in the data dir, or PostgreSQL when IDP_DATABASE_URL is set.
// Timed apart from the rest of start-up: it is the part that may grow with the data (quick_check).
const opening = performance.now();
const store = bench.store === 'memory' ? memoryStore() : await openStore(config);
const storeOpenMs = performance.now() - opening;
const secrets = store.settings ? await loadSharedSecrets(store.settings, config.adminToken!) : await loadSecrets(config.dataDir, { adminToken: config.adminToken });
let app = createApp(config, secrets, store, log).app;
if (bench.bare) {
  // Clients are registered through the full app's admin API; then the provider alone serves /oauth.
  const full = app;
  const { createProvider } = await load<'provider'>('provider.ts');
  const provider = createProvider(config, secrets, store);
  provider.proxy = true;
  const bare = new Koa({ proxy: true });
  bare.use(mount('/oauth', provider));
  bare.use(mount(full));
  app = bare;
}
const server = createServer(app.callback());
const port = await listen(server, config.port, '127.0.0.1');
serveCommands(
  { port, adminToken: secrets.adminToken, storeOpenMs },
  {
    // One expiry purge as main.ts runs it every minute, timed inside the process that runs it.
    async purge() {
      const started = performance.now();
      const purged = await store.purgeExpired();
      return { purged, ms: performance.now() - started };
    },
  },
);
