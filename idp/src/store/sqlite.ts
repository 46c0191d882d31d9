import Database from 'better-sqlite3';
import { closeSync, mkdirSync, openSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Adapter, AdapterPayload } from 'oidc-provider';
import type { Account, Store } from './types.ts';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS accounts (
  username      TEXT PRIMARY KEY,
  sub           TEXT NOT NULL UNIQUE,
  password_hash TEXT NOT NULL,
  name          TEXT,
  email         TEXT,
  created_at    INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS oidc (
  model      TEXT NOT NULL,
  id         TEXT NOT NULL,
  payload    TEXT NOT NULL,
  grant_id   TEXT,
  uid        TEXT,
  user_code  TEXT,
  client_id  TEXT,
  expires_at INTEGER,
  created_at INTEGER NOT NULL,
  PRIMARY KEY (model, id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS oidc_grant ON oidc (grant_id) WHERE grant_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS oidc_uid ON oidc (uid) WHERE uid IS NOT NULL;
CREATE INDEX IF NOT EXISTS oidc_user_code ON oidc (user_code) WHERE user_code IS NOT NULL;
CREATE INDEX IF NOT EXISTS oidc_client ON oidc (client_id) WHERE client_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS oidc_expires ON oidc (expires_at) WHERE expires_at IS NOT NULL;
`;

type Row = { payload: string; expires_at: number | null };
type AccountRow = { username: string; sub: string; password_hash: string; name: string | null; email: string | null; created_at: number };

const toAccount = (row: AccountRow | undefined): Account | undefined =>
  row && { sub: row.sub, username: row.username, passwordHash: row.password_hash, name: row.name, email: row.email, createdAt: row.created_at };

/**
 * oidc-provider storage over one SQLite file: the embedded default for one IDP process. Every model
 * lives in one table keyed by (model, id); the columns beside the JSON payload exist only to be looked
 * up by: grant (revokeByGrantId), session uid, user code, client (deleting a client removes everything
 * issued to it) and expiry (purge). WAL + prepared statements: a token lookup is a single indexed read.
 */
export function openSqliteStore(file: string, { now = Date.now } = {}): Store {
  if (file !== ':memory:') {
    mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
    // Created owner-only first: SQLite gives the -wal and -shm files the database file's mode.
    closeSync(openSync(file, 'a', 0o600));
  }
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.pragma('busy_timeout = 5000');
  db.exec(SCHEMA);

  const seconds = () => Math.floor(now() / 1000);
  const stmt = {
    upsert: db.prepare(`INSERT INTO oidc (model, id, payload, grant_id, uid, user_code, client_id, expires_at, created_at)
      VALUES (@model, @id, @payload, @grantId, @uid, @userCode, @clientId, @expiresAt, @createdAt)
      ON CONFLICT (model, id) DO UPDATE SET payload = excluded.payload, grant_id = excluded.grant_id, uid = excluded.uid,
        user_code = excluded.user_code, client_id = excluded.client_id, expires_at = excluded.expires_at`),
    find: db.prepare<[string, string], Row>('SELECT payload, expires_at FROM oidc WHERE model = ? AND id = ?'),
    findByUid: db.prepare<[string, string], Row>('SELECT payload, expires_at FROM oidc WHERE model = ? AND uid = ?'),
    findByUserCode: db.prepare<[string, string], Row>('SELECT payload, expires_at FROM oidc WHERE model = ? AND user_code = ?'),
    consume: db.prepare<[number, string, string]>(`UPDATE oidc SET payload = json_set(payload, '$.consumed', ?) WHERE model = ? AND id = ?`),
    destroy: db.prepare<[string, string]>('DELETE FROM oidc WHERE model = ? AND id = ?'),
    revokeByGrantId: db.prepare<[string, string]>('DELETE FROM oidc WHERE model = ? AND grant_id = ?'),
    createClient: db.prepare<[string, string, number]>(`INSERT INTO oidc (model, id, payload, created_at) VALUES ('Client', ?, ?, ?)
      ON CONFLICT (model, id) DO NOTHING`),
    listClients: db.prepare<[], { payload: string }>(`SELECT payload FROM oidc WHERE model = 'Client' ORDER BY created_at, id`),
    deleteClient: db.prepare<[string]>(`DELETE FROM oidc WHERE model = 'Client' AND id = ?`),
    deleteIssuedTo: db.prepare<[string]>(`DELETE FROM oidc WHERE client_id = ? AND model <> 'Client'`),
    createAccount: db.prepare(`INSERT INTO accounts (username, sub, password_hash, name, email, created_at)
      VALUES (@username, @sub, @passwordHash, @name, @email, @createdAt) ON CONFLICT DO NOTHING`),
    accountBySub: db.prepare<[string], AccountRow>('SELECT * FROM accounts WHERE sub = ?'),
    accountByUsername: db.prepare<[string], AccountRow>('SELECT * FROM accounts WHERE username = ?'),
    listAccounts: db.prepare<[], AccountRow>('SELECT * FROM accounts ORDER BY created_at, username'),
    deleteAccount: db.prepare<[string]>('DELETE FROM accounts WHERE username = ?'),
    purge: db.prepare<[number]>('DELETE FROM oidc WHERE expires_at IS NOT NULL AND expires_at <= ?'),
  };

  const live = (row: Row | undefined): AdapterPayload | undefined =>
    row && (row.expires_at === null || row.expires_at > seconds()) ? (JSON.parse(row.payload) as AdapterPayload) : undefined;

  const deleteClient = db.transaction((clientId: string) => {
    const { changes } = stmt.deleteClient.run(clientId);
    if (changes) stmt.deleteIssuedTo.run(clientId);
    return changes > 0;
  });

  return {
    adapter(model: string): Adapter {
      return {
        async upsert(id, payload, expiresIn) {
          stmt.upsert.run({
            model,
            id,
            payload: JSON.stringify(payload),
            grantId: payload.grantId ?? null,
            uid: payload.uid ?? null,
            userCode: payload.userCode ?? null,
            clientId: model === 'Client' ? null : (payload.clientId ?? null),
            expiresAt: typeof expiresIn === 'number' ? seconds() + expiresIn : null,
            createdAt: now(),
          });
        },
        async find(id) {
          return live(stmt.find.get(model, id));
        },
        async findByUid(uid) {
          return live(stmt.findByUid.get(model, uid));
        },
        async findByUserCode(userCode) {
          return live(stmt.findByUserCode.get(model, userCode));
        },
        async consume(id) {
          stmt.consume.run(seconds(), model, id);
        },
        async destroy(id) {
          stmt.destroy.run(model, id);
        },
        async revokeByGrantId(grantId) {
          stmt.revokeByGrantId.run(model, grantId);
        },
      };
    },
    createClient: async (clientId, metadata) => stmt.createClient.run(clientId, JSON.stringify(metadata), now()).changes === 1,
    listClients: async () => stmt.listClients.all().map((row) => JSON.parse(row.payload) as AdapterPayload),
    deleteClient: async (clientId) => deleteClient(clientId),
    accounts: {
      create: async (account) => stmt.createAccount.run(account).changes === 1,
      findBySub: async (sub) => toAccount(stmt.accountBySub.get(sub)),
      findByUsername: async (username) => toAccount(stmt.accountByUsername.get(username)),
      list: async () => stmt.listAccounts.all().map((row) => toAccount(row)!),
      remove: async (username) => stmt.deleteAccount.run(username).changes === 1,
    },
    purgeExpired: async () => stmt.purge.run(seconds()).changes,
    close: async () => {
      db.close();
    },
  };
}
