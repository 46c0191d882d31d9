import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { startPostgres, type TestPostgres } from '../../../test/support/postgres.ts';
import { freePort } from '../../../test/support/process.ts';
import { poll, settlesWithin, waitFor } from '../../../test/support/wait.ts';
import { loadSharedSecrets } from '../../src/keys.ts';
import { openPostgresStore } from '../../src/store/postgres.ts';
import type { Store } from '../../src/store/types.ts';
import { EVENT_RETENTION_SECONDS, storeContract } from './contract.ts';

// One real server for the file; no skip when it cannot start: the tests fail saying why.
let server: TestPostgres;
let url: string;
let admin: pg.Pool;
before(async () => {
  server = await startPostgres();
  url = await server.createDatabase('contract');
  admin = new pg.Pool({ connectionString: url, max: 2 });
});
after(async () => {
  await admin?.end();
  await server?.stop();
});

// The store reads the database's now(), which a test cannot move: the fixture moves the stored times
// back instead, which is the same thing as seen from a row.
storeContract('postgres', async () => {
  let store = await openPostgresStore(url, { poolSize: 4, eventRetentionSeconds: EVENT_RETENTION_SECONDS });
  await admin.query('TRUNCATE oidc, accounts, idp_settings, ssf_streams, ssf_events, ssf_revoked_jwts');
  return {
    get store() {
      return store;
    },
    async advance(seconds) {
      await admin.query(
        `UPDATE oidc SET expires_at = expires_at - $1 * interval '1 second', created_at = created_at - $1 * interval '1 second'`,
        [seconds],
      );
      await admin.query('UPDATE ssf_events SET iat = iat - $1', [seconds]);
      await admin.query('UPDATE ssf_streams SET created_at = created_at - $1, last_polled_at = last_polled_at - $1', [seconds]);
      await admin.query('UPDATE ssf_revoked_jwts SET exp = exp - $1', [seconds]);
    },
    nowSeconds: async () => (await admin.query<{ now: number }>('SELECT floor(extract(epoch FROM now()))::float8 AS now')).rows[0]!.now,
    async reopen() {
      await store.close();
      store = await openPostgresStore(url, { poolSize: 4, eventRetentionSeconds: EVENT_RETENTION_SECONDS });
      return store;
    },
    close: () => store.close(),
  };
});

describe('postgres store, several replicas', () => {
  test('stores opened at the same moment on an empty database all migrate it and work', async () => {
    const fresh = await server.createDatabase('race');
    const stores = await Promise.all(Array.from({ length: 6 }, () => openPostgresStore(fresh, { poolSize: 2 })));
    try {
      assert.equal(await stores[0]!.createClient('c1', { client_id: 'c1' }), true);
      for (const store of stores) assert.deepEqual(await store.listClients(), [{ client_id: 'c1' }]);
      const client = new pg.Client({ connectionString: fresh });
      await client.connect();
      try {
        const { rows } = await client.query(`SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename`);
        assert.deepEqual(rows.map((r) => r.tablename), ['accounts', 'idp_settings', 'oidc', 'resource_servers', 'ssf_events', 'ssf_revoked_jwts', 'ssf_streams']);
      } finally {
        await client.end();
      }
    } finally {
      await Promise.all(stores.map((s) => s.close()));
    }
  });

  test('a setting created by several stores at once is created once: every store reads the same value', async () => {
    const fresh = await server.createDatabase('settings_race');
    const stores = await Promise.all(Array.from({ length: 4 }, () => openPostgresStore(fresh, { poolSize: 2 })));
    try {
      let created = 0;
      const values = await Promise.all(stores.map((s, i) => s.settings!.getOrCreate('k', async () => (created++, `value-${i}`))));
      assert.equal(new Set(values).size, 1, values.join());
      assert.ok(created >= 1);
      assert.equal(await stores[3]!.settings!.getOrCreate('k', async () => assert.fail('not created again')), values[0]);
    } finally {
      await Promise.all(stores.map((s) => s.close()));
    }
  });

  test('replicas loading their secrets at once share one signing key set and one set of cookie keys', async () => {
    const fresh = await server.createDatabase('secrets_race');
    const stores = await Promise.all([1, 2, 3].map(() => openPostgresStore(fresh, { poolSize: 2 })));
    try {
      const secrets = await Promise.all(stores.map((s) => loadSharedSecrets(s.settings!, 'shared-admin-token')));
      for (const s of secrets) {
        assert.deepEqual(s.jwks, secrets[0]!.jwks);
        assert.deepEqual(s.cookieKeys, secrets[0]!.cookieKeys);
        assert.equal(s.adminToken, 'shared-admin-token');
        assert.equal(s.adminTokenFile, undefined);
      }
      assert.equal(secrets[0]!.jwks.keys.length, 1);
      assert.equal(typeof secrets[0]!.jwks.keys[0]!.d, 'string', 'a private key');
    } finally {
      await Promise.all(stores.map((s) => s.close()));
    }
  });
});

describe('postgres store, operations', () => {
  let store: Store;
  before(async () => {
    store = await openPostgresStore(url, { poolSize: 2 });
  });
  after(() => store?.close());

  test('expiry is the database\'s now() plus expiresIn, not the replica\'s clock', async () => {
    await store.adapter('AccessToken').upsert('ttl-1', { clientId: 'a' }, 10);
    const { rows } = await admin.query(
      `SELECT extract(epoch FROM expires_at - created_at)::float8 AS ttl, abs(extract(epoch FROM created_at - now()))::float8 < 60 AS recent
       FROM oidc WHERE model = 'AccessToken' AND id = 'ttl-1'`,
    );
    assert.deepEqual(rows, [{ ttl: 10, recent: true }]);
  });

  test('payloads are stored as TEXT, exactly as JSON.stringify wrote them', async () => {
    const payload = { uid: 'i-2', params: { state: 'x\u0000y' } };
    await store.adapter('Interaction').upsert('i-2', payload, 60);
    const { rows } = await admin.query(`SELECT payload, pg_typeof(payload)::text AS type FROM oidc WHERE model = 'Interaction' AND id = 'i-2'`);
    assert.deepEqual(rows, [{ payload: JSON.stringify(payload), type: 'text' }]);
  });

  test('a dropped idle connection is reported to onError, not a crash, and the store goes on working', async () => {
    const errors: Error[] = [];
    const own = await openPostgresStore(url, { poolSize: 2, onError: (err) => errors.push(err) });
    try {
      await own.listClients(); // leaves an idle connection in the pool
      await admin.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'idp' AND pid <> pg_backend_pid() AND state = 'idle'`);
      await poll(() => errors.length, (n) => n > 0, { timeoutMs: 1000 });
      assert.ok(errors.length >= 1, 'onError saw the terminated connection');
      assert.ok(Array.isArray(await own.listClients()), 'a new connection serves the next query');
    } finally {
      await own.close();
    }
  });

  test('an unreachable server fails start-up with a message naming host and database, never the password', async () => {
    const port = await freePort();
    await assert.rejects(
      openPostgresStore(`postgres://idp:s3cret-password@127.0.0.1:${port}/idp`, { connectTimeoutMs: 600 }),
      (err: Error) => {
        assert.match(err.message, new RegExp(`^cannot prepare the PostgreSQL database 127\\.0\\.0\\.1:${port}/idp: `));
        assert.equal(err.message.includes('s3cret-password'), false);
        return true;
      },
    );
  });
});

test('a database from before account_id: its rows are attributed to their subjects, and what deleted accounts left behind is dropped', async () => {
  const fresh = await server.createDatabase('before_account_id');
  const old = new pg.Client({ connectionString: fresh });
  await old.connect();
  try {
    await old.query(`CREATE TABLE accounts (username TEXT PRIMARY KEY, sub TEXT NOT NULL UNIQUE, password_hash TEXT NOT NULL, name TEXT, email TEXT, created_at BIGINT NOT NULL);
      CREATE TABLE oidc (model TEXT NOT NULL, id TEXT NOT NULL, payload TEXT NOT NULL, grant_id TEXT, uid TEXT, user_code TEXT, client_id TEXT,
        expires_at TIMESTAMPTZ, consumed BIGINT, created_at TIMESTAMPTZ NOT NULL DEFAULT now(), PRIMARY KEY (model, id));
      INSERT INTO accounts VALUES ('alice', 'sub-alice', 'scrypt$x', NULL, NULL, 1);`);
    const rows: [string, string, object][] = [
      ['Session', 's-alice', { uid: 'u1', accountId: 'sub-alice' }],
      ['Interaction', 'i-alice', { uid: 'i1', session: { accountId: 'sub-alice' }, params: { state: 'a\u0000b' } }],
      ['AccessToken', 'at-gone', { clientId: 'web', accountId: 'sub-deleted-earlier' }],
      ['ClientCredentials', 'cc', { clientId: 'web' }],
    ];
    for (const [model, id, payload] of rows) await old.query('INSERT INTO oidc (model, id, payload) VALUES ($1, $2, $3)', [model, id, JSON.stringify(payload)]);
  } finally {
    await old.end();
  }
  const store = await openPostgresStore(fresh, { poolSize: 2 });
  try {
    assert.equal(await store.adapter('AccessToken').find('at-gone'), undefined, 'the token of an account deleted before the upgrade is revoked');
    assert.ok(await store.adapter('Interaction').find('i-alice'));
    assert.equal(await store.accounts.remove('alice'), true);
    assert.equal(await store.adapter('Session').find('s-alice'), undefined);
    assert.equal(await store.adapter('Interaction').find('i-alice'), undefined);
    assert.deepEqual(await store.adapter('ClientCredentials').find('cc'), { clientId: 'web' });
  } finally {
    await store.close();
  }
});

// Two stores on one database are two replicas: a long poll at one must wake for a revocation at the other.
describe('postgres store, Shared Signals across replicas', () => {
  const openStream = (store: Store, id: string) =>
    store.streams!.create({
      id,
      clientId: 'receiver',
      status: 'enabled',
      reason: null,
      config: { events_delivered: ['https://schemas.openid.net/secevent/oauth/event-type/token-revoked'] },
      createdAt: Math.floor(Date.now() / 1000),
      lastPolledAt: Math.floor(Date.now() / 1000),
    });
  const revoke = async (store: Store, id: string) => {
    await store.adapter('AccessToken').upsert(id, { clientId: 'web' }, 600);
    await store.adapter('AccessToken').destroy(id);
  };
  const listeners = (database: string) => async () =>
    (await admin.query<{ n: number }>(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = 'idp_ssf_listener' AND datname = $1`, [database])).rows[0]!.n;

  test('a stream created at replica B receives, and its long poll at B wakes for, a revocation at replica A', async () => {
    const fresh = await server.createDatabase('ssf_replicas');
    const [a, b] = await Promise.all([openPostgresStore(fresh, { poolSize: 2 }), openPostgresStore(fresh, { poolSize: 2 })]);
    try {
      await a.adapter('AccessToken').upsert('warm', { clientId: 'web' }, 600); // A has run its statements before the stream exists
      await openStream(b, 'at-b');
      const controller = new AbortController();
      const waiting = b.streams!.waitForEvents('at-b', controller.signal);
      assert.equal(await settlesWithin(waiting, 300), false, 'nothing queued yet');
      const started = performance.now();
      await revoke(a, 'tok-1');
      assert.equal(await settlesWithin(waiting, 3000), true, 'B woke');
      console.log(`# wake-up across replicas: ${Math.round(performance.now() - started)} ms after A's revoke was sent`);
      assert.deepEqual((await b.streams!.poll('at-b', 10)).map((e) => e.fact.kind), ['token-revoked']);
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });

  test('when the LISTEN connection drops, waiters are woken, it reconnects, and wake-ups work again; closing ends it', async () => {
    const fresh = await server.createDatabase('ssf_listener_drop');
    const errors: Error[] = [];
    const [a, b] = await Promise.all([openPostgresStore(fresh, { poolSize: 2 }), openPostgresStore(fresh, { poolSize: 2, onError: (err) => errors.push(err) })]);
    try {
      await openStream(a, 's');
      const first = b.streams!.waitForEvents('s', new AbortController().signal);
      await waitFor(async () => (await listeners('ssf_listener_drop')()) === 1, 3000, 'B listening');
      assert.equal(await settlesWithin(first, 200), false);
      // No reconnection possible for now: whatever wakes the waiter is the drop itself.
      await admin.query('ALTER DATABASE ssf_listener_drop ALLOW_CONNECTIONS false');
      try {
        await admin.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'idp_ssf_listener' AND datname = 'ssf_listener_drop'`);
        assert.equal(await settlesWithin(first, 3000), true, 'the drop woke the waiter (it re-polls)');
        const whileDown = b.streams!.waitForEvents('s', new AbortController().signal);
        assert.equal(await settlesWithin(whileDown, 300), false, 'while down, a waiter does not spin');
        assert.equal(await settlesWithin(whileDown, 3000), true, 'while down, a waiter re-polls after a while');
      } finally {
        await admin.query('ALTER DATABASE ssf_listener_drop ALLOW_CONNECTIONS true');
      }
      await waitFor(async () => (await listeners('ssf_listener_drop')()) === 1, 5000, 'B listening again');
      const second = b.streams!.waitForEvents('s', new AbortController().signal);
      assert.equal(await settlesWithin(second, 300), false, 'listening again, nothing queued: it waits');
      await revoke(a, 'tok-2');
      assert.equal(await settlesWithin(second, 3000), true, 'a revocation at A wakes B again');
      assert.ok(errors.length >= 1, 'the drop was reported');
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
    await waitFor(async () => (await listeners('ssf_listener_drop')()) === 0, 3000, 'no listener left after close');
  });
});
