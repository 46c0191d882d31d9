// The PostgreSQL store's per-replica client cache (postgresClients.ts, postgresReads.ts): two store
// instances on one real server are two replicas. "A request" is what oidc-provider's context is in
// the IDP: here an AsyncLocalStorage the test enters, given to the store as its request scope.
import assert from 'node:assert/strict';
import { AsyncLocalStorage } from 'node:async_hooks';
import { once } from 'node:events';
import { after, before, beforeEach, describe, test } from 'node:test';
import pg from 'pg';
import { startPostgres, type TestPostgres } from '../../../test/support/postgres.ts';
import { poll } from '../../../test/support/wait.ts';
import { openPostgresStore, type PostgresStoreOptions } from '../../src/store/postgres.ts';
import type { Store } from '../../src/store/types.ts';

let server: TestPostgres;
let url: string;
let admin: pg.Pool;
const open: Store[] = [];
const requests = new AsyncLocalStorage<object>();
/** Runs `fn` as one request of its own (a fresh oidc-provider context). */
const inRequest = <T>(fn: () => Promise<T>) => requests.run({}, fn);

before(async () => {
  server = await startPostgres();
  url = await server.createDatabase('client_cache');
  admin = new pg.Pool({ connectionString: url, max: 2 });
});
after(async () => {
  await Promise.all(open.map((s) => s.close()));
  await admin?.end();
  await server?.stop();
});
beforeEach(async () => {
  await Promise.all(open.splice(0).map((s) => s.close()));
});

/** A replica's store, once its notification connection listens. */
async function replica(options: PostgresStoreOptions = {}): Promise<Store & { listens: () => Promise<unknown> }> {
  const events = new (await import('node:events')).EventEmitter();
  const listening = once(events, 'listening');
  const store = await openPostgresStore(url, { poolSize: 2, requestScope: () => requests.getStore(), onListening: () => events.emit('listening'), ...options });
  open.push(store);
  await listening;
  return Object.assign(store, { listens: () => once(events, 'listening') });
}

const metadata = (id: string, secret: string) => ({ client_id: id, client_secret: secret, grant_types: ['client_credentials'] });
const secretOf = async (store: Store, id: string) => (await inRequest(() => store.adapter('Client').find(id)))?.client_secret;
/** Changes a client's row the way a replica whose notification is late would look to the others. */
const changeUnnotified = async (sql: string, values: unknown[]) => {
  const client = await admin.connect();
  try {
    await client.query('BEGIN');
    await client.query('ALTER TABLE oidc DISABLE TRIGGER USER');
    await client.query(sql, values);
    await client.query('ALTER TABLE oidc ENABLE TRIGGER USER');
    await client.query('COMMIT');
  } finally {
    client.release();
  }
};
/**
 * A client stored without a notification: a store's own writes notify itself too, and that
 * notification, arriving at some moment after the write, would empty the entry a test just cached.
 */
const createUnnotified = (id: string, secret: string) =>
  changeUnnotified(`INSERT INTO oidc (model, id, payload) VALUES ('Client', $1, $2)`, [id, JSON.stringify(metadata(id, secret))]);
const token = (clientId: string, jti: string) => ({ jti, kind: 'ClientCredentials', clientId, scope: 'service.api', iat: 1, exp: 2 ** 31 });

describe('postgres client cache across replicas', () => {
  test('within a request a replica answers a client from its cache: a change that sends no notification is not seen', async () => {
    const b = await replica();
    await createUnnotified('cached', 'first');
    assert.equal(await secretOf(b, 'cached'), 'first');
    await changeUnnotified(`UPDATE oidc SET payload = $1 WHERE model = 'Client' AND id = 'cached'`, [JSON.stringify(metadata('cached', 'second'))]);
    assert.equal(await secretOf(b, 'cached'), 'first', 'served from the cache');
    // Outside a request (the admin API's read-modify-write) the database is read.
    assert.equal((await b.adapter('Client').find('cached'))?.client_secret, 'second');
  });

  test("a client's secret rotated through replica A is dropped from replica B's cache by the notification", async () => {
    const [a, b] = [await replica(), await replica()];
    await createUnnotified('rotated', 'old');
    assert.equal(await secretOf(b, 'rotated'), 'old');
    await a.adapter('Client').upsert('rotated', metadata('rotated', 'new'));
    assert.equal(await poll(() => secretOf(b, 'rotated'), (s) => s === 'new', { timeoutMs: 5000, intervalMs: 10 }), 'new');
  });

  test('a client deleted through replica A is gone at replica B once the notification arrives', async () => {
    const [a, b] = [await replica(), await replica()];
    await createUnnotified('deleted', 's');
    assert.equal(await secretOf(b, 'deleted'), 's');
    assert.equal(await a.deleteClient('deleted'), true);
    assert.equal(await poll(() => secretOf(b, 'deleted'), (s) => s === undefined, { timeoutMs: 5000, intervalMs: 10 }), undefined);
  });

  test('a request that relied on a cached client deleted meanwhile is refused at its next token read, and the entry dropped', async () => {
    const b = await replica();
    await createUnnotified('gone', 's');
    await b.adapter('ClientCredentials').upsert('t-gone', token('gone', 't-gone'), 600);
    await secretOf(b, 'gone'); // cached
    await inRequest(async () => {
      assert.equal((await b.adapter('Client').find('gone'))?.client_secret, 's', 'authenticated from the cache');
      await changeUnnotified(`DELETE FROM oidc WHERE model = 'Client' AND id = 'gone'`, []);
      await assert.rejects(b.adapter('ClientCredentials').find('t-gone'), { name: 'InvalidClientAuth', message: 'invalid_client', status: 401 });
    });
    assert.equal(await secretOf(b, 'gone'), undefined, 'the next request reads the database');
  });

  test('a request that relied on a cached client whose secret was rotated meanwhile gets no token stored', async () => {
    const b = await replica();
    await createUnnotified('stale', 'old');
    await secretOf(b, 'stale'); // cached
    await inRequest(async () => {
      assert.equal((await b.adapter('Client').find('stale'))?.client_secret, 'old');
      await changeUnnotified(`UPDATE oidc SET payload = $1 WHERE model = 'Client' AND id = 'stale'`, [JSON.stringify(metadata('stale', 'new'))]);
      await assert.rejects(b.adapter('ClientCredentials').upsert('t-stale', token('stale', 't-stale'), 600), { name: 'InvalidClientAuth', message: 'invalid_client', status: 401 });
    });
    const { rowCount } = await admin.query(`SELECT 1 FROM oidc WHERE model = 'ClientCredentials' AND id = 't-stale'`);
    assert.equal(rowCount, 0, 'nothing was issued');
    assert.equal(await secretOf(b, 'stale'), 'new');
  });

  test('a request whose cached client is unchanged gets its token read and written as usual', async () => {
    const b = await replica();
    await createUnnotified('current', 's');
    await secretOf(b, 'current');
    await inRequest(async () => {
      await b.adapter('Client').find('current');
      await b.adapter('ClientCredentials').upsert('t-current', token('current', 't-current'), 600);
      assert.equal((await b.adapter('ClientCredentials').find('t-current'))?.jti, 't-current');
    });
  });

  test('while the notification connection is down nothing is cached: every lookup reads the database', async () => {
    const errors: Error[] = [];
    const b = await replica({ listenRetryMs: 60_000, onError: (err) => errors.push(err) });
    const set = (secret: string) => changeUnnotified(`UPDATE oidc SET payload = $1 WHERE model = 'Client' AND id = 'uncached'`, [JSON.stringify(metadata('uncached', secret))]);
    await createUnnotified('uncached', 'first');
    assert.equal(await secretOf(b, 'uncached'), 'first');
    await set('second');
    assert.equal(await secretOf(b, 'uncached'), 'first', 'cached while listening');
    await admin.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'idp-listener' AND datname = current_database()`);
    await poll(() => errors.length, (n) => n > 0, { timeoutMs: 5000, intervalMs: 10 });
    assert.equal(await secretOf(b, 'uncached'), 'second', 'the cache was emptied');
    await set('third');
    assert.equal(await secretOf(b, 'uncached'), 'third', 'and is not filled while nobody listens');
  });

  test('a replica whose notification connection failed listens again and caches only from then on', async () => {
    const b = await replica({ listenRetryMs: 50 });
    await createUnnotified('again', 'first');
    assert.equal(await secretOf(b, 'again'), 'first');
    const back = b.listens();
    await admin.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'idp-listener' AND datname = current_database()`);
    // Changed while nobody listened (its notification lost): the cache from before must not answer.
    await changeUnnotified(`UPDATE oidc SET payload = $1 WHERE model = 'Client' AND id = 'again'`, [JSON.stringify(metadata('again', 'second'))]);
    await back;
    assert.equal(await secretOf(b, 'again'), 'second');
    await changeUnnotified(`UPDATE oidc SET payload = $1 WHERE model = 'Client' AND id = 'again'`, [JSON.stringify(metadata('again', 'third'))]);
    assert.equal(await secretOf(b, 'again'), 'second', 'cached again');
  });

  test('upserts of one turn are written together, and only the one whose relied-on client changed is refused', async () => {
    const b = await replica();
    await createUnnotified('batch-ok', 's');
    await createUnnotified('batch-stale', 'old');
    await secretOf(b, 'batch-stale'); // cached
    const tokens = b.adapter('ClientCredentials');
    const request = {};
    await requests.run(request, () => b.adapter('Client').find('batch-stale'));
    await changeUnnotified(`UPDATE oidc SET payload = $1 WHERE model = 'Client' AND id = 'batch-stale'`, [JSON.stringify(metadata('batch-stale', 'new'))]);
    // All three in this turn: one statement.
    const results = await Promise.allSettled([
      tokens.upsert('t-batch-1', token('batch-ok', 't-batch-1'), 600),
      requests.run(request, () => tokens.upsert('t-batch-stale', token('batch-stale', 't-batch-stale'), 600)),
      tokens.upsert('t-batch-2', token('batch-ok', 't-batch-2'), 600),
    ]);
    assert.deepEqual(results.map((r) => r.status), ['fulfilled', 'rejected', 'fulfilled']);
    const { rows } = await admin.query<{ id: string }>(`SELECT id FROM oidc WHERE model = 'ClientCredentials' AND id LIKE 't-batch-%' ORDER BY id`);
    assert.deepEqual(rows.map((r) => r.id), ['t-batch-1', 't-batch-2']);
  });

  test("a request answers its resource-server finds from its own list; the next request reads another replica's change", async () => {
    const [a, b] = [await replica(), await replica()];
    const server = { identifier: 'https://api.example', scopes: ['read'], access_token_format: null, access_token_ttl: null, managed_by: null, created_at: 1 };
    await a.resourceServers.create(server);
    await inRequest(async () => {
      assert.equal((await b.resourceServers.list()).length, 1);
      await a.resourceServers.replace({ ...server, scopes: ['read', 'write'] });
      assert.deepEqual((await b.resourceServers.find(server.identifier))?.scopes, ['read'], "the request's own list");
    });
    assert.deepEqual((await inRequest(() => b.resourceServers.find(server.identifier)))?.scopes, ['read', 'write']);
    await a.resourceServers.remove(server.identifier);
    assert.equal(await inRequest(async () => (await b.resourceServers.list(), b.resourceServers.find(server.identifier))), undefined);
  });
});
