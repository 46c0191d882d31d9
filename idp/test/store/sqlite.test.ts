import assert from 'node:assert/strict';
import { test } from 'node:test';
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

// The store caches what it reads, which is only right while no one else writes the file.
test('a second store cannot open a file that a store holds, and says why', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'idp-store-'));
  const file = join(dir, 'idp.sqlite');
  const first = openSqliteStore(file);
  try {
    assert.throws(() => openSqliteStore(file), /is in use by another process \(is another IDP running on this data dir\?\)/);
  } finally {
    await first.close();
  }
  const again = openSqliteStore(file);
  await again.close();
  rmSync(dir, { recursive: true, force: true });
});

test('upserts of one turn of the event loop are committed together, in order with the writes that follow', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'idp-store-'));
  const file = join(dir, 'idp.sqlite');
  let store = openSqliteStore(file);
  const tokens = () => store.adapter('AccessToken');
  const writes = [
    tokens().upsert('t1', { v: 1 }, 600),
    tokens().upsert('t2', { v: 1 }, 600),
    tokens().destroy('t1'),
    tokens().upsert('t2', { v: 2 }, 600),
    tokens().upsert('t3', { v: 1 }, 600),
  ];
  assert.deepEqual(await tokens().find('t3'), { v: 1 }, 'a waiting upsert is already seen by find');
  await store.close();
  await Promise.all(writes);
  store = openSqliteStore(file);
  assert.equal(await tokens().find('t1'), undefined);
  assert.deepEqual(await tokens().find('t2'), { v: 2 });
  assert.deepEqual(await tokens().find('t3'), { v: 1 }, 'close committed the waiting batch');
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});
