import assert from 'node:assert/strict';
import { test } from 'node:test';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { openSqliteStore } from '../../src/store/sqlite.ts';
import { EVENT_RETENTION_SECONDS, storeContract } from './contract.ts';

// A frozen clock the tests move by hand (milliseconds, like Date.now); the file lives in a fresh dir
// (nested, which the store must create) so that reopening finds the same data.
storeContract('sqlite', async () => {
  let clock = Date.UTC(2030, 0, 1);
  const now = () => clock;
  const dir = mkdtempSync(join(tmpdir(), 'idp-store-'));
  const file = join(dir, 'nested', 'idp.sqlite');
  let store = openSqliteStore(file, { now, eventRetentionSeconds: EVENT_RETENTION_SECONDS });
  return {
    get store() {
      return store;
    },
    advance: async (seconds) => void (clock += seconds * 1000),
    nowSeconds: async () => Math.floor(clock / 1000),
    async reopen() {
      await store.close();
      store = openSqliteStore(file, { now, eventRetentionSeconds: EVENT_RETENTION_SECONDS });
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

// The schema before rows carried account_id; a file from then must gain it and revoke by subject too.
const OLD_SCHEMA = `
CREATE TABLE accounts (username TEXT PRIMARY KEY, sub TEXT NOT NULL UNIQUE, password_hash TEXT NOT NULL, name TEXT, email TEXT, created_at INTEGER NOT NULL);
CREATE TABLE oidc (model TEXT NOT NULL, id TEXT NOT NULL, payload TEXT NOT NULL, grant_id TEXT, uid TEXT, user_code TEXT, client_id TEXT,
  expires_at INTEGER, created_at INTEGER NOT NULL, PRIMARY KEY (model, id));
`;

test('a file from before account_id: its rows are attributed to their subjects, and what deleted accounts left behind is dropped', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'idp-store-'));
  const file = join(dir, 'idp.sqlite');
  const old = new Database(file);
  old.exec(OLD_SCHEMA);
  old.prepare(`INSERT INTO accounts VALUES ('alice', 'sub-alice', 'scrypt$x', NULL, NULL, 1)`).run();
  const row = old.prepare('INSERT INTO oidc (model, id, payload, grant_id, client_id, created_at) VALUES (?, ?, ?, ?, ?, 1)');
  row.run('Session', 's-alice', JSON.stringify({ uid: 'u1', accountId: 'sub-alice' }), null, null);
  row.run('AccessToken', 'at-alice', JSON.stringify({ clientId: 'web', accountId: 'sub-alice', grantId: 'g1', params: { state: 'a\u0000b' } }), 'g1', 'web');
  row.run('AccessToken', 'at-gone', JSON.stringify({ clientId: 'web', accountId: 'sub-deleted-earlier', grantId: 'g2' }), 'g2', 'web');
  row.run('ClientCredentials', 'cc', JSON.stringify({ clientId: 'web' }), null, 'web');
  row.run('Client', 'web', JSON.stringify({ client_id: 'web' }), null, null);
  old.close();

  let store = openSqliteStore(file);
  assert.equal(await store.adapter('AccessToken').find('at-gone'), undefined, 'the token of an account deleted before the upgrade is revoked');
  assert.ok(await store.adapter('AccessToken').find('at-alice'));
  await store.close();
  store = openSqliteStore(file);
  assert.equal(await store.accounts.remove('alice'), true);
  assert.equal(await store.adapter('Session').find('s-alice'), undefined);
  assert.equal(await store.adapter('AccessToken').find('at-alice'), undefined);
  assert.deepEqual(await store.adapter('ClientCredentials').find('cc'), { clientId: 'web' });
  assert.deepEqual(await store.adapter('Client').find('web'), { client_id: 'web' });
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

test('purgeExpired deletes in batches and lets other requests run between them (one DELETE of 100k rows froze the IDP for seconds)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'idp-store-'));
  let clock = Date.UTC(2030, 0, 1);
  const store = openSqliteStore(join(dir, 'idp.sqlite'), { now: () => clock, purgeBatch: 2 });
  try {
    const tokens = store.adapter('AccessToken');
    await Promise.all([1, 2, 3, 4, 5].map((i) => tokens.upsert(`expired-${i}`, { jti: `expired-${i}` }, 10)));
    await tokens.upsert('live', { jti: 'live' }, 1000);
    clock += 20_000;
    const order: string[] = [];
    const purge = store.purgeExpired().then((purged) => order.push(`purge ${purged}`));
    const find = tokens.find('live').then((found) => order.push(`find ${found?.jti}`));
    await Promise.all([purge, find]);
    assert.deepEqual(order, ['find live', 'purge 5'], 'the find was answered while the purge was still going');
    assert.equal(await tokens.find('expired-5'), undefined);
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
