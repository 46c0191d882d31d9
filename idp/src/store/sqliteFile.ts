import Database from 'better-sqlite3';
import { closeSync, existsSync, mkdirSync, openSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import type { AdapterPayload } from 'oidc-provider';
import { StoreUnusableError } from './errors.ts';
import { accountIdOf } from './subject.ts';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS accounts (
  username      TEXT PRIMARY KEY,
  sub           TEXT NOT NULL UNIQUE,
  password_hash TEXT NOT NULL,
  name          TEXT,
  email         TEXT,
  created_at    INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS resource_servers (
  identifier TEXT PRIMARY KEY,
  payload    TEXT NOT NULL,
  created_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS oidc (
  model      TEXT NOT NULL,
  id         TEXT NOT NULL,
  payload    TEXT NOT NULL,
  grant_id   TEXT,
  uid        TEXT,
  user_code  TEXT,
  client_id  TEXT,
  account_id TEXT,
  expires_at INTEGER,
  created_at INTEGER NOT NULL,
  PRIMARY KEY (model, id)
);
-- Shared Signals (issue 16). A stream's events_delivered (JSON array) and inactivity_timeout are
-- copied out of its config for the fan-out and the purge; events are delivered in seq order.
CREATE TABLE IF NOT EXISTS ssf_streams (
  id                 TEXT PRIMARY KEY,
  client_id          TEXT NOT NULL,
  status             TEXT NOT NULL,
  reason             TEXT,
  config             TEXT NOT NULL,
  events_delivered   TEXT NOT NULL,
  inactivity_timeout INTEGER,
  created_at         INTEGER NOT NULL,
  last_polled_at     INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS ssf_streams_client ON ssf_streams (client_id);
CREATE TABLE IF NOT EXISTS ssf_events (
  seq       INTEGER PRIMARY KEY,
  stream_id TEXT NOT NULL,
  jti       TEXT NOT NULL,
  iat       INTEGER NOT NULL,
  fact      TEXT NOT NULL,
  dedupe    TEXT,
  UNIQUE (stream_id, jti)
);
-- At most one unacknowledged event per (stream, dedupe key): one session-revoked per revoked grant.
CREATE UNIQUE INDEX IF NOT EXISTS ssf_events_dedupe ON ssf_events (stream_id, dedupe) WHERE dedupe IS NOT NULL;
CREATE INDEX IF NOT EXISTS ssf_events_stream ON ssf_events (stream_id, seq);
CREATE INDEX IF NOT EXISTS ssf_events_iat ON ssf_events (iat);
CREATE TABLE IF NOT EXISTS ssf_revoked_jwts (
  jti TEXT PRIMARY KEY,
  exp INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS idp_health (
  id         INTEGER PRIMARY KEY CHECK (id = 1),
  checked_at INTEGER NOT NULL
);
`;

// After addAccountColumn: an older file gets the column this indexes first.
const INDEXES = `
CREATE INDEX IF NOT EXISTS oidc_grant ON oidc (grant_id) WHERE grant_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS oidc_uid ON oidc (uid) WHERE uid IS NOT NULL;
CREATE INDEX IF NOT EXISTS oidc_user_code ON oidc (user_code) WHERE user_code IS NOT NULL;
CREATE INDEX IF NOT EXISTS oidc_client ON oidc (client_id) WHERE client_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS oidc_expires ON oidc (expires_at) WHERE expires_at IS NOT NULL;
CREATE INDEX IF NOT EXISTS oidc_account ON oidc (account_id) WHERE account_id IS NOT NULL;
`;

const RESTORE = 'restore it from a backup, or move it away to start with an empty database (every client and user is then gone)';

/** The open database, and a check that the file on disk is still the one open. */
export type OpenedFile = { db: Database.Database; stillInPlace(): void };

/**
 * Opens (or creates) the IDP's SQLite file, holding it exclusively, and refuses one that cannot be
 * trusted: an existing file that is empty or holds no IDP tables (an empty SQLite file opens as a
 * valid empty database: every client and user would silently be gone), one that fails
 * `PRAGMA quick_check`, one that cannot be written. Every refusal names the file.
 */
export function openDatabaseFile(file: string): OpenedFile {
  const memory = file === ':memory:';
  const existed = !memory && existsSync(file);
  if (existed && statSync(file).isFile() && statSync(file).size === 0) {
    throw new StoreUnusableError(`${file} is empty (0 bytes) but was expected to hold the IDP database: ${RESTORE}`);
  }
  let db: Database.Database | undefined;
  try {
    if (!memory) {
      mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
      // Created owner-only first: SQLite gives the -wal and -shm files the database file's mode.
      closeSync(openSync(file, 'a', 0o600));
    }
    db = new Database(file);
    // A restarting IDP may find its predecessor still closing the file: wait for it a little.
    db.pragma('busy_timeout = 5000');
    db.pragma('locking_mode = EXCLUSIVE');
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    // Takes the exclusive lock now rather than at the first write.
    db.exec('BEGIN EXCLUSIVE; COMMIT');
    if (existed) check(db, file);
    db.exec(SCHEMA);
    addAccountColumn(db);
    db.exec(INDEXES);
    // Proves the file (and its directory, which must take the -wal file) can be written.
    db.prepare('INSERT INTO idp_health (id, checked_at) VALUES (1, ?) ON CONFLICT (id) DO UPDATE SET checked_at = excluded.checked_at').run(Date.now());
  } catch (err) {
    db?.close();
    if (err instanceof StoreUnusableError) throw err;
    throw explain(err, file);
  }
  const identity = memory ? undefined : statSync(file);
  return {
    db,
    stillInPlace() {
      if (!identity) return;
      let now;
      try {
        now = statSync(file);
      } catch (err) {
        throw new StoreUnusableError(`${file} is gone (${(err as NodeJS.ErrnoException).code}): writes since then would be lost at restart`, { cause: err });
      }
      if (now.ino !== identity.ino || now.dev !== identity.dev) {
        throw new StoreUnusableError(`${file} was replaced by another file while the IDP runs`);
      }
    },
  };
}

function check(db: Database.Database, file: string): void {
  const tables = new Set(db.prepare<[], { name: string }>(`SELECT name FROM sqlite_master WHERE type = 'table'`).all().map((t) => t.name));
  if (!tables.has('oidc') || !tables.has('accounts')) {
    throw new StoreUnusableError(`${file} is an SQLite file but holds no IDP tables (oidc, accounts): ${RESTORE}`);
  }
  const problems = db.prepare<[], { quick_check: string }>('PRAGMA quick_check(5)').all().map((r) => r.quick_check.replace(/\s+/g, ' ').trim());
  if (problems.join() !== 'ok') {
    throw new StoreUnusableError(`${file} is damaged (PRAGMA quick_check: ${problems.join('; ')}): ${RESTORE}`);
  }
}

/** What a failed open means, in terms of the file, for the error SQLite or the file system gave. */
function explain(err: unknown, file: string): Error {
  const code = (err as { code?: string }).code ?? '';
  const message = (err as Error).message;
  const says = (reason: string) => new StoreUnusableError(`${file} ${reason} (${code}: ${message})`, { cause: err });
  if (code === 'SQLITE_BUSY') return says('is in use by another process (is another IDP running on this data dir?)');
  if (code === 'SQLITE_NOTADB' || code.startsWith('SQLITE_CORRUPT')) return says(`is not a readable SQLite database: ${RESTORE}`);
  if (code.startsWith('SQLITE_READONLY') || code.startsWith('SQLITE_CANTOPEN') || code === 'EACCES' || code === 'EPERM' || code === 'EROFS') {
    return says(`cannot be opened for writing: the IDP needs to write this file and create ${file}-wal beside it (check the owner and mode of both)`);
  }
  if (code === 'EISDIR' || code === 'ENOTDIR') return says('is not a file, or its directory is not a directory');
  return says('cannot be opened');
}

/**
 * Files written before rows carried `account_id`: add the column, fill it from the payloads, and drop
 * what accounts deleted back then left behind (their deletion did not revoke it). Runs once: the
 * column's presence says the file is up to date.
 */
function addAccountColumn(db: Database.Database): void {
  const columns = db.prepare<[], { name: string }>('PRAGMA table_info(oidc)').all();
  if (columns.some((c) => c.name === 'account_id')) return;
  db.transaction(() => {
    db.exec('ALTER TABLE oidc ADD COLUMN account_id TEXT');
    const set = db.prepare<[string, number]>('UPDATE oidc SET account_id = ? WHERE rowid = ?');
    const rows = db.prepare<[], { rowid: number; payload: string }>(`SELECT rowid, payload FROM oidc WHERE model <> 'Client'`).all();
    for (const row of rows) {
      const accountId = accountIdOf(JSON.parse(row.payload) as AdapterPayload);
      if (accountId) set.run(accountId, row.rowid);
    }
    db.exec('DELETE FROM oidc WHERE account_id IS NOT NULL AND account_id NOT IN (SELECT sub FROM accounts)');
  })();
}
