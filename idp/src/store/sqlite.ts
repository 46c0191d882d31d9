import { LRUCache } from 'lru-cache';
import type { Adapter, AdapterPayload } from 'oidc-provider';
import { openDatabaseFile } from './sqliteFile.ts';
import { accountIdOf } from './subject.ts';
import type { Account, Store, StoredResourceServer } from './types.ts';

type Row = { payload: string; expires_at: number | null };
/** What the read cache holds for a (model, id): the row as stored, or `null` when there is none. */
type Cached = { row: Row | null };
/** An upsert waiting for its batch's commit. */
type Pending = { row: Row; params: unknown[] };

/** Rows kept in memory (~0.3–2 kB each): enough for every client and the tokens in current use. */
const CACHE_ROWS = 10_000;
type AccountRow = { username: string; sub: string; password_hash: string; name: string | null; email: string | null; created_at: number };

const toAccount = (row: AccountRow | undefined): Account | undefined =>
  row && { sub: row.sub, username: row.username, passwordHash: row.password_hash, name: row.name, email: row.email, createdAt: row.created_at };

// The row's created_at wins over the payload's: a replaced resource server keeps its first creation time.
const toResourceServer = (row: { payload: string; created_at: number } | undefined): StoredResourceServer | undefined =>
  row && { ...(JSON.parse(row.payload) as StoredResourceServer), created_at: row.created_at };

/**
 * oidc-provider storage over one SQLite file: the embedded default for one IDP process. Every model
 * lives in one table keyed by (model, id); the columns beside the JSON payload exist only to be looked
 * up by: grant (revokeByGrantId), session uid, user code, client (deleting a client removes everything
 * issued to it) and expiry (purge). WAL + prepared statements: a token lookup is a single indexed read.
 * The table keeps its rowid (rows are appended in order) with (model, id) as a separate narrow index: a
 * new token then changes a few pages rather than a random page of a tree holding every payload.
 *
 * Upserts arriving in the same turn of the event loop are committed together, in one transaction at
 * the end of it (`setImmediate`); each resolves only once its batch is committed, so nothing is
 * acknowledged before it is on disk. Every other operation commits the waiting batch first.
 *
 * The process holds the file exclusively (a second IDP on the same data dir fails to open it), so it
 * knows every write: `find` answers from a bounded cache of the stored rows (JSON text, parsed on each
 * find like a fresh read) that every write through this store updates or evicts. A client
 * authenticating and a token being introspected then cost no query at all.
 */
export function openSqliteStore(file: string, { now = Date.now } = {}): Store {
  const { db, stillInPlace } = openDatabaseFile(file);

  const seconds = () => Math.floor(now() / 1000);
  const stmt = {
    upsert: db.prepare<unknown[]>(`INSERT INTO oidc (model, id, payload, grant_id, uid, user_code, client_id, account_id, expires_at, created_at)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
      ON CONFLICT (model, id) DO UPDATE SET payload = excluded.payload, grant_id = excluded.grant_id, uid = excluded.uid,
        user_code = excluded.user_code, client_id = excluded.client_id, account_id = excluded.account_id, expires_at = excluded.expires_at`),
    find: db.prepare<[string, string], Row>('SELECT payload, expires_at FROM oidc WHERE model = ? AND id = ?'),
    findByUid: db.prepare<[string, string], Row>('SELECT payload, expires_at FROM oidc WHERE model = ? AND uid = ?'),
    findByUserCode: db.prepare<[string, string], Row>('SELECT payload, expires_at FROM oidc WHERE model = ? AND user_code = ?'),
    consume: db.prepare<[number, string, string]>(`UPDATE oidc SET payload = json_set(payload, '$.consumed', ?) WHERE model = ? AND id = ?`),
    destroy: db.prepare<[string, string]>('DELETE FROM oidc WHERE model = ? AND id = ?'),
    revokeByGrantId: db.prepare<[string, string], { id: string }>('DELETE FROM oidc WHERE model = ? AND grant_id = ? RETURNING id'),
    createClient: db.prepare<[string, string, number]>(`INSERT INTO oidc (model, id, payload, created_at) VALUES ('Client', ?, ?, ?)
      ON CONFLICT (model, id) DO NOTHING`),
    listClients: db.prepare<[], { payload: string }>(`SELECT payload FROM oidc WHERE model = 'Client' ORDER BY created_at, id`),
    deleteClient: db.prepare<[string]>(`DELETE FROM oidc WHERE model = 'Client' AND id = ?`),
    deleteIssuedTo: db.prepare<[string], { model: string; id: string }>(`DELETE FROM oidc WHERE client_id = ? AND model <> 'Client' RETURNING model, id`),
    createAccount: db.prepare(`INSERT INTO accounts (username, sub, password_hash, name, email, created_at)
      VALUES (@username, @sub, @passwordHash, @name, @email, @createdAt) ON CONFLICT DO NOTHING`),
    accountBySub: db.prepare<[string], AccountRow>('SELECT * FROM accounts WHERE sub = ?'),
    accountByUsername: db.prepare<[string], AccountRow>('SELECT * FROM accounts WHERE username = ?'),
    listAccounts: db.prepare<[], AccountRow>('SELECT * FROM accounts ORDER BY created_at, username'),
    deleteAccount: db.prepare<[string], { sub: string }>('DELETE FROM accounts WHERE username = ? RETURNING sub'),
    deleteOfAccount: db.prepare<[string], { model: string; id: string }>('DELETE FROM oidc WHERE account_id = ? RETURNING model, id'),
    createResourceServer: db.prepare<[string, string, number]>('INSERT INTO resource_servers (identifier, payload, created_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING'),
    replaceResourceServer: db.prepare<[string, string]>('UPDATE resource_servers SET payload = ? WHERE identifier = ?'),
    findResourceServer: db.prepare<[string], { payload: string; created_at: number }>('SELECT payload, created_at FROM resource_servers WHERE identifier = ?'),
    listResourceServers: db.prepare<[], { payload: string; created_at: number }>('SELECT payload, created_at FROM resource_servers ORDER BY created_at, identifier'),
    deleteResourceServer: db.prepare<[string]>('DELETE FROM resource_servers WHERE identifier = ?'),
    purge: db.prepare<[number]>('DELETE FROM oidc WHERE expires_at IS NOT NULL AND expires_at <= ?'),
    probeWrite: db.prepare<[number]>('UPDATE idp_health SET checked_at = ? WHERE id = 1'),
    probeRead: db.prepare<[], { checked_at: number }>('SELECT checked_at FROM idp_health WHERE id = 1'),
  };

  const live = (row: Row | null | undefined): AdapterPayload | undefined =>
    row && (row.expires_at === null || row.expires_at > seconds()) ? (JSON.parse(row.payload) as AdapterPayload) : undefined;

  const cache = new LRUCache<string, Cached>({ max: CACHE_ROWS });
  const key = (model: string, id: string) => `${model}\0${id}`;
  const evict = (model: string, id: string) => cache.delete(key(model, id));

  // The upserts of the current turn of the event loop, committed by commit().
  let batch: { rows: Map<string, Pending>; done: Promise<void>; resolve: () => void; reject: (err: unknown) => void } | undefined;
  const writeBatch = db.transaction((rows: Iterable<Pending>) => {
    for (const { params } of rows) stmt.upsert.run(params);
  });
  /** Commits the waiting upserts (if any) and settles their promises; never throws. */
  const commit = () => {
    const current = batch;
    if (!current) return;
    batch = undefined;
    try {
      writeBatch(current.rows.values());
    } catch (err) {
      current.reject(err);
      return;
    }
    for (const [k, { row }] of current.rows) cache.set(k, { row });
    current.resolve();
  };
  const newBatch = () => {
    let resolve!: () => void;
    let reject!: (err: unknown) => void;
    const done = new Promise<void>((res, rej) => ((resolve = res), (reject = rej)));
    setImmediate(commit);
    return { rows: new Map<string, Pending>(), done, resolve, reject };
  };
  /** Runs `op` after the waiting upserts are committed, so operations apply in the order they came. */
  const after =
    <A extends unknown[], R>(op: (...args: A) => R) =>
    async (...args: A): Promise<R> => {
      commit();
      return op(...args);
    };

  const deleteClient = db.transaction((clientId: string) => {
    const { changes } = stmt.deleteClient.run(clientId);
    evict('Client', clientId);
    if (changes) for (const row of stmt.deleteIssuedTo.all(clientId)) evict(row.model, row.id);
    return changes > 0;
  });
  // Offboarding is revocation: the account and every session, grant, token and code of its subject
  // go in one transaction, so nothing issued to it is honoured a moment longer.
  const deleteAccount = db.transaction((username: string) => {
    const deleted = stmt.deleteAccount.get(username);
    if (!deleted) return false;
    for (const row of stmt.deleteOfAccount.all(deleted.sub)) evict(row.model, row.id);
    return true;
  });

  return {
    adapter(model: string): Adapter {
      return {
        async upsert(id, payload, expiresIn) {
          const row = { payload: JSON.stringify(payload), expires_at: typeof expiresIn === 'number' ? seconds() + expiresIn : null };
          const clientId = model === 'Client' ? null : (payload.clientId ?? null);
          const accountId = model === 'Client' ? null : (accountIdOf(payload) ?? null);
          const params = [model, id, row.payload, payload.grantId ?? null, payload.uid ?? null, payload.userCode ?? null, clientId, accountId, row.expires_at, now()];
          batch ??= newBatch();
          batch.rows.set(key(model, id), { row, params });
          return batch.done;
        },
        async find(id) {
          const k = key(model, id);
          let found = batch?.rows.get(k) ?? cache.get(k);
          if (!found) cache.set(k, (found = { row: stmt.find.get(model, id) ?? null }));
          return live(found.row);
        },
        findByUid: after((uid: string) => live(stmt.findByUid.get(model, uid))),
        findByUserCode: after((userCode: string) => live(stmt.findByUserCode.get(model, userCode))),
        consume: after((id: string) => {
          stmt.consume.run(seconds(), model, id);
          evict(model, id);
        }),
        destroy: after((id: string) => {
          stmt.destroy.run(model, id);
          evict(model, id);
        }),
        revokeByGrantId: after((grantId: string) => {
          for (const row of stmt.revokeByGrantId.all(model, grantId)) evict(model, row.id);
        }),
      };
    },
    createClient: after((clientId: string, metadata: AdapterPayload) => {
      const created = stmt.createClient.run(clientId, JSON.stringify(metadata), now()).changes === 1;
      evict('Client', clientId);
      return created;
    }),
    listClients: after(() => stmt.listClients.all().map((row) => JSON.parse(row.payload) as AdapterPayload)),
    deleteClient: after((clientId: string) => deleteClient(clientId)),
    accounts: {
      create: async (account) => stmt.createAccount.run(account).changes === 1,
      findBySub: async (sub) => toAccount(stmt.accountBySub.get(sub)),
      findByUsername: async (username) => toAccount(stmt.accountByUsername.get(username)),
      list: async () => stmt.listAccounts.all().map((row) => toAccount(row)!),
      remove: after((username: string) => deleteAccount(username)),
    },
    resourceServers: {
      create: async (server) => stmt.createResourceServer.run(server.identifier, JSON.stringify(server), server.created_at).changes === 1,
      replace: async (server) => stmt.replaceResourceServer.run(JSON.stringify(server), server.identifier).changes === 1,
      find: async (identifier) => toResourceServer(stmt.findResourceServer.get(identifier)),
      list: async () => stmt.listResourceServers.all().map((row) => toResourceServer(row)!),
      remove: async (identifier) => stmt.deleteResourceServer.run(identifier).changes === 1,
    },
    purgeExpired: after(() => stmt.purge.run(seconds()).changes),
    // One small write and its read-back through the same connection (a full disk, an I/O error, a
    // file gone read-only all fail it), and the file on disk must still be the one open.
    probe: after(() => {
      stillInPlace();
      const at = now();
      stmt.probeWrite.run(at);
      if (stmt.probeRead.get()?.checked_at !== at) throw new Error('the health row did not read back as written');
    }),
    close: after(() => {
      db.close();
    }),
  };
}

