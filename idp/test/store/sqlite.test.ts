import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openSqliteStore } from '../../src/store/sqlite.ts';
import { storeContract } from './contract.ts';

// A frozen clock the tests move by hand (milliseconds, like Date.now); the file lives in a fresh dir
// (nested, which the store must create) so that reopening finds the same data.
storeContract('sqlite', async () => {
  let clock = Date.UTC(2030, 0, 1);
  const now = () => clock;
  const dir = mkdtempSync(join(tmpdir(), 'idp-store-'));
  const file = join(dir, 'nested', 'idp.sqlite');
  let store = openSqliteStore(file, { now });
  return {
    get store() {
      return store;
    },
    advance: async (seconds) => void (clock += seconds * 1000),
    nowSeconds: async () => Math.floor(clock / 1000),
    async reopen() {
      await store.close();
      store = openSqliteStore(file, { now });
      return store;
    },
    async close() {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
});
