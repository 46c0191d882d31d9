// `tsx bench/storeMicro.ts [path/to/sqlite-store.ts ...]`: the store's own cost per operation,
// without HTTP: µs per upsert of a client_credentials token, per token find and per client find, for
// the SQLite store (or experimental copies of it) next to oidc-provider's in-memory adapter.
// STORE_OPS (5000), STORE_CONCURRENCY (1: one operation at a time).
import { settings } from './config.ts';
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { memoryStore } from './memoryStore.ts';

type Store = ReturnType<typeof memoryStore>;
const N = settings.storeOps;
const C = settings.storeConcurrency;

async function measure(name: string, store: Store) {
  const clients = store.adapter('Client');
  const tokens = store.adapter('ClientCredentials');
  await store.createClient('bench-caller', { client_id: 'bench-caller', client_secret: 'x'.repeat(43), scope: 'service.api', grant_types: ['client_credentials'], response_types: [], redirect_uris: [] });
  const ids = Array.from({ length: N }, () => randomBytes(32).toString('base64url'));
  const payload = (jti: string) => ({ jti, kind: 'ClientCredentials', clientId: 'bench-caller', scope: 'service.api', iat: Math.floor(Date.now() / 1000), exp: Math.floor(Date.now() / 1000) + 600, extra: {} });
  const time = async (op: (i: number) => Promise<unknown>) => {
    const t = performance.now();
    for (let i = 0; i < N; i += C) await Promise.all(Array.from({ length: Math.min(C, N - i) }, (_, j) => op(i + j)));
    return ((performance.now() - t) * 1000) / N;
  };
  const upsert = await time((i) => tokens.upsert(ids[i]!, payload(ids[i]!), 600));
  const find = await time((i) => tokens.find(ids[i]!));
  const client = await time(() => clients.find('bench-caller'));
  console.log(`${name.padEnd(40)} upsert ${upsert.toFixed(1).padStart(6)} µs   find token ${find.toFixed(1).padStart(5)} µs   find client ${client.toFixed(1).padStart(5)} µs`);
  await store.close();
}

const modules = process.argv.slice(2).length ? process.argv.slice(2) : ['idp/src/store/sqlite.ts'];
for (let round = 0; round < 2; round++) {
  await measure('memory (oidc-provider MemoryAdapter)', memoryStore());
  for (const module of modules) {
    const { openSqliteStore } = (await import(pathToFileURL(resolve(module)).href)) as { openSqliteStore: (file: string) => Store };
    await measure(module, openSqliteStore(join(mkdtempSync(join(tmpdir(), 'store-micro-')), 'idp.sqlite')));
  }
}
