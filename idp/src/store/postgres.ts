import type { Adapter, AdapterPayload } from 'oidc-provider';
import pg from 'pg';
import { StoreUnusableError } from './errors.ts';
import { ACCOUNT_PURGED_FACT, CLIENT_DELETED_FACT, fanOutCtes, postgresStreams, SESSION_REVOKED_FACT, SSF_SCHEMA, TOKEN_REVOKED_FACT } from './postgresStreams.ts';
import { DEFAULT_EVENT_RETENTION_SECONDS, REVOCABLE_TOKENS, tokenHash } from './streams.ts';
import { EVENT_TYPES } from '../ssf/eventTypes.ts';
import { accountIdOf } from './subject.ts';
import type { Account, Store, StoredResourceServer } from './types.ts';

// The same tables as the SQLite store. Payloads are TEXT, not JSONB: oidc-provider keeps request
// parameters (e.g. `state`) in Interaction payloads and JSONB rejects `\u0000`. Times are the
// database's (`now()`), never a replica's clock: replicas' clocks differ. `consumed` is a column
// merged into the payload on read, so consuming needs no read-modify-write of the JSON text.
const SCHEMA = `
CREATE TABLE IF NOT EXISTS accounts (
  username      TEXT PRIMARY KEY,
  sub           TEXT NOT NULL UNIQUE,
  password_hash TEXT NOT NULL,
  name          TEXT,
  email         TEXT,
  created_at    BIGINT NOT NULL
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
  expires_at TIMESTAMPTZ,
  consumed   BIGINT,
  created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  PRIMARY KEY (model, id)
);
CREATE INDEX IF NOT EXISTS oidc_grant ON oidc (grant_id) WHERE grant_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS oidc_uid ON oidc (uid) WHERE uid IS NOT NULL;
CREATE INDEX IF NOT EXISTS oidc_user_code ON oidc (user_code) WHERE user_code IS NOT NULL;
CREATE INDEX IF NOT EXISTS oidc_client ON oidc (client_id) WHERE client_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS oidc_expires ON oidc (expires_at) WHERE expires_at IS NOT NULL;
CREATE TABLE IF NOT EXISTS resource_servers (
  identifier TEXT PRIMARY KEY,
  payload    TEXT NOT NULL,
  created_at BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS idp_settings (
  name       TEXT PRIMARY KEY,
  value      TEXT NOT NULL,
  created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
`;

/** Any constant works as long as every replica uses the same one: it names "the IDP's migration". */
const MIGRATION_LOCK = 4_171_952_381;
const PURGE_BATCH = 1000;
const PROBE_TIMEOUT_MS = 2000;
const LIVE = '(expires_at IS NULL OR expires_at > now())';

type Row = { payload: string; consumed: string | null };
type AccountRow = { username: string; sub: string; password_hash: string; name: string | null; email: string | null; created_at: string };

const toAccount = (row: AccountRow | undefined): Account | undefined =>
  row && { sub: row.sub, username: row.username, passwordHash: row.password_hash, name: row.name, email: row.email, createdAt: Number(row.created_at) };

const toPayload = (row: Row | undefined): AdapterPayload | undefined => {
  if (!row) return undefined;
  const payload = JSON.parse(row.payload) as AdapterPayload;
  return row.consumed === null ? payload : { ...payload, consumed: Number(row.consumed) };
};

// The row's created_at wins over the payload's: a replaced resource server keeps its first creation time.
const toResourceServer = (row: { payload: string; created_at: string } | undefined): StoredResourceServer | undefined =>
  row && { ...(JSON.parse(row.payload) as StoredResourceServer), created_at: Number(row.created_at) };

// PostgreSQL TEXT cannot hold NUL: such a key was never stored, and asking for it must not be a 500.
const storable = (key: string) => !key.includes('\0');

export type PostgresStoreOptions = {
  /** Connections per replica. */
  poolSize?: number;
  /** Errors of idle connections (a restarted server, a dropped link); without a handler they crash the process. */
  onError?: (err: Error) => void;
  /** How long start-up waits for a server that is still starting or not yet reachable. */
  connectTimeoutMs?: number;
  /** Seconds an unacknowledged Shared Signals event is kept: the longest token lifetime (default 14 days). */
  eventRetentionSeconds?: number;
};

/**
 * oidc-provider storage over PostgreSQL, shared by any number of IDP replicas. The schema is created
 * on start-up inside a transaction holding an advisory lock, so replicas starting together take
 * turns. Hot statements are named (prepared once per connection).
 */
export async function openPostgresStore(url: string, options: PostgresStoreOptions = {}): Promise<Store> {
  const pool = new pg.Pool({ connectionString: url, max: options.poolSize ?? 10, application_name: 'idp' });
  const onError = options.onError ?? (() => {});
  pool.on('error', onError);
  try {
    await migrate(pool, options.connectTimeoutMs ?? 15_000);
  } catch (err) {
    await pool.end().catch(() => {});
    throw new StoreUnusableError(`cannot prepare the PostgreSQL database ${describe(url)}: ${(err as Error).message}`, { cause: err });
  }

  const query = async <R extends pg.QueryResultRow>(name: string, text: string, values: unknown[]) =>
    pool.query<R>({ name: `idp_${name}`, text, values });
  const one = async (name: string, text: string, values: unknown[]) => toPayload((await query<Row>(name, text, values)).rows[0]);
  const ssf = postgresStreams({ url, pool, query, onError, eventRetentionSeconds: options.eventRetentionSeconds ?? DEFAULT_EVENT_RETENTION_SECONDS });

  return {
    adapter(model: string): Adapter {
      return {
        async upsert(id, payload, expiresIn) {
          await query(
            'upsert',
            `INSERT INTO oidc (model, id, payload, grant_id, uid, user_code, client_id, account_id, expires_at, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $9, now() + $8::float8 * interval '1 second', now())
             ON CONFLICT (model, id) DO UPDATE SET payload = excluded.payload, grant_id = excluded.grant_id, uid = excluded.uid,
               user_code = excluded.user_code, client_id = excluded.client_id, account_id = excluded.account_id,
               expires_at = excluded.expires_at, consumed = NULL`,
            [
              model,
              id,
              JSON.stringify(payload),
              payload.grantId ?? null,
              payload.uid ?? null,
              payload.userCode ?? null,
              model === 'Client' ? null : (payload.clientId ?? null),
              typeof expiresIn === 'number' ? expiresIn : null,
              model === 'Client' ? null : (accountIdOf(payload) ?? null),
            ],
          );
        },
        async find(id) {
          if (!storable(id)) return undefined;
          return one('find', `SELECT payload, consumed FROM oidc WHERE model = $1 AND id = $2 AND ${LIVE}`, [model, id]);
        },
        async findByUid(uid) {
          if (!storable(uid)) return undefined;
          return one('find_by_uid', `SELECT payload, consumed FROM oidc WHERE model = $1 AND uid = $2 AND ${LIVE}`, [model, uid]);
        },
        async findByUserCode(userCode) {
          if (!storable(userCode)) return undefined;
          return one('find_by_user_code', `SELECT payload, consumed FROM oidc WHERE model = $1 AND user_code = $2 AND ${LIVE}`, [model, userCode]);
        },
        async consume(id) {
          if (!storable(id)) return;
          await query('consume', `UPDATE oidc SET consumed = floor(extract(epoch FROM now())) WHERE model = $1 AND id = $2`, [model, id]);
        },
        async destroy(id) {
          if (!storable(id)) return;
          if (model === 'Grant') {
            // A grant ended: its session-revoked (see streams.ts), unless revokeByGrantId of the same revocation queued it.
            await query(
              'destroy_grant',
              `WITH gone AS (DELETE FROM oidc WHERE model = $1 AND id = $2), ${fanOutCtes(SESSION_REVOKED_FACT)}
               SELECT (SELECT n FROM notified) AS notified`,
              [model, id, EVENT_TYPES.sessionRevoked],
            );
            return;
          }
          const tokenType = REVOCABLE_TOKENS[model];
          if (!tokenType) {
            await query('destroy', 'DELETE FROM oidc WHERE model = $1 AND id = $2', [model, id]);
            return;
          }
          // A token revoked and its event queued in one statement: not answered before its event is stored.
          await query(
            'destroy_token',
            `WITH gone AS (DELETE FROM oidc WHERE model = $1 AND id = $2 RETURNING client_id, account_id), ${fanOutCtes(TOKEN_REVOKED_FACT)}
             SELECT (SELECT n FROM notified) AS notified`,
            [model, id, tokenType, tokenHash(id), EVENT_TYPES.tokenRevoked],
          );
        },
        async revokeByGrantId(grantId) {
          if (!storable(grantId)) return;
          // The grant's one session-revoked (see streams.ts): every model's call may queue it, the
          // first one queues it (its owner read in the deletion's own snapshot), the others find it queued.
          await query(
            'revoke_by_grant_id',
            `WITH gone AS (DELETE FROM oidc WHERE model = $1 AND grant_id = $2), ${fanOutCtes(SESSION_REVOKED_FACT)}
             SELECT (SELECT n FROM notified) AS notified`,
            [model, grantId, EVENT_TYPES.sessionRevoked],
          );
        },
      };
    },
    async createClient(clientId, metadata) {
      const { rowCount } = await pool.query(
        `INSERT INTO oidc (model, id, payload, created_at) VALUES ('Client', $1, $2, now()) ON CONFLICT (model, id) DO NOTHING`,
        [clientId, JSON.stringify(metadata)],
      );
      return rowCount === 1;
    },
    async listClients() {
      const { rows } = await pool.query<{ payload: string }>(`SELECT payload FROM oidc WHERE model = 'Client' ORDER BY created_at, id`);
      return rows.map((row) => JSON.parse(row.payload) as AdapterPayload);
    },
    async deleteClient(clientId) {
      if (!storable(clientId)) return false;
      // One statement, so one transaction: the client and what was issued to it go together.
      const { rows } = await pool.query<{ deleted: number }>(
        `WITH client AS (DELETE FROM oidc WHERE model = 'Client' AND id = $1 RETURNING id),
              issued AS (DELETE FROM oidc WHERE model <> 'Client' AND client_id IN (SELECT id FROM client)), ${fanOutCtes(CLIENT_DELETED_FACT)}
         SELECT count(*)::int AS deleted, (SELECT n FROM notified) AS notified FROM client`,
        [clientId],
      );
      return rows[0]!.deleted > 0;
    },
    accounts: {
      async create(account) {
        const { rowCount } = await pool.query(
          `INSERT INTO accounts (username, sub, password_hash, name, email, created_at) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING`,
          [account.username, account.sub, account.passwordHash, account.name, account.email, account.createdAt],
        );
        return rowCount === 1;
      },
      async findBySub(sub) {
        if (!storable(sub)) return undefined;
        return toAccount((await query<AccountRow>('account_by_sub', 'SELECT * FROM accounts WHERE sub = $1', [sub])).rows[0]);
      },
      async findByUsername(username) {
        if (!storable(username)) return undefined;
        return toAccount((await query<AccountRow>('account_by_username', 'SELECT * FROM accounts WHERE username = $1', [username])).rows[0]);
      },
      async list() {
        const { rows } = await pool.query<AccountRow>('SELECT * FROM accounts ORDER BY created_at, username');
        return rows.map((row) => toAccount(row)!);
      },
      async remove(username) {
        if (!storable(username)) return false;
        // Offboarding is revocation: one statement (one transaction) removes the account and every
        // session, grant, token and code of its subject, so nothing issued to it is honoured any longer.
        const { rows } = await pool.query<{ deleted: number }>(
          `WITH account AS (DELETE FROM accounts WHERE username = $1 RETURNING sub),
                issued AS (DELETE FROM oidc WHERE account_id IN (SELECT sub FROM account)), ${fanOutCtes(ACCOUNT_PURGED_FACT)}
           SELECT count(*)::int AS deleted, (SELECT n FROM notified) AS notified FROM account`,
          [username],
        );
        return rows[0]!.deleted > 0;
      },
    },
    resourceServers: {
      async create(server) {
        const { rowCount } = await pool.query('INSERT INTO resource_servers (identifier, payload, created_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING', [
          server.identifier,
          JSON.stringify(server),
          server.created_at,
        ]);
        return rowCount === 1;
      },
      async replace(server) {
        const { rowCount } = await pool.query('UPDATE resource_servers SET payload = $2 WHERE identifier = $1', [server.identifier, JSON.stringify(server)]);
        return rowCount === 1;
      },
      async find(identifier) {
        if (!storable(identifier)) return undefined;
        const { rows } = await query<{ payload: string; created_at: string }>('resource_server', 'SELECT payload, created_at FROM resource_servers WHERE identifier = $1', [identifier]);
        return toResourceServer(rows[0]);
      },
      async list() {
        const { rows } = await query<{ payload: string; created_at: string }>('resource_servers', 'SELECT payload, created_at FROM resource_servers ORDER BY created_at, identifier', []);
        return rows.map((row) => toResourceServer(row)!);
      },
      async remove(identifier) {
        if (!storable(identifier)) return false;
        return (await pool.query('DELETE FROM resource_servers WHERE identifier = $1', [identifier])).rowCount === 1;
      },
    },
    async purgeExpired() {
      // In batches, skipping rows another replica is purging: no long lock, no two replicas waiting on each other.
      let purged = 0;
      for (;;) {
        const { rowCount } = await query(
          'purge',
          `DELETE FROM oidc o USING (SELECT model, id FROM oidc WHERE expires_at <= now() LIMIT ${PURGE_BATCH} FOR UPDATE SKIP LOCKED) expired
           WHERE o.model = expired.model AND o.id = expired.id`,
          [],
        );
        purged += rowCount ?? 0;
        if ((rowCount ?? 0) < PURGE_BATCH) return purged + (await ssf.purge());
      }
    },
    streams: ssf.streams,
    settings: {
      async getOrCreate(name, create) {
        const read = async () => (await pool.query<{ value: string }>('SELECT value FROM idp_settings WHERE name = $1', [name])).rows[0]?.value;
        const existing = await read();
        if (existing !== undefined) return existing;
        // Whoever inserts first wins; the others' values are dropped and everyone reads the winner's.
        // Each statement is its own READ COMMITTED transaction, so the re-read sees the winner's commit.
        await pool.query('INSERT INTO idp_settings (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING', [name, await create()]);
        const stored = await read();
        if (stored === undefined) throw new Error(`setting ${name} vanished while being created`);
        return stored;
      },
    },
    async probe() {
      // A read of the main table and a transaction id (refused by a read-only server or session):
      // no row is written. Bounded, so /healthz answers even while the server is unreachable.
      const connecting = pool.connect();
      const client = await withTimeout(connecting, PROBE_TIMEOUT_MS, 'no connection to PostgreSQL').catch((err: unknown) => {
        connecting.then((late) => late.release(), () => {}); // a connection arriving after the timeout goes back to the pool
        throw err;
      });
      try {
        await withTimeout(client.query('SELECT (SELECT count(*) FROM (SELECT 1 FROM oidc LIMIT 1) t) AS read, txid_current() AS write'), PROBE_TIMEOUT_MS, 'PostgreSQL did not answer');
        client.release();
      } catch (err) {
        client.release(err as Error); // a connection that timed out or failed is not reused
        throw err;
      }
    },
    async close() {
      await ssf.close();
      await pool.end();
    },
  };
}

async function migrate(pool: pg.Pool, connectTimeoutMs: number): Promise<void> {
  // One client for the whole transaction: separate pool.query calls may land on different connections.
  const client = await connect(pool, connectTimeoutMs);
  try {
    await client.query('BEGIN ISOLATION LEVEL READ COMMITTED');
    await client.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK]);
    await client.query(SCHEMA);
    await client.query(SSF_SCHEMA);
    await addAccountColumn(client);
    await client.query('CREATE INDEX IF NOT EXISTS oidc_account ON oidc (account_id) WHERE account_id IS NOT NULL');
    await client.query('COMMIT');
  } catch (err) {
    await client.query('ROLLBACK').catch(() => {});
    throw err;
  } finally {
    client.release();
  }
}

/**
 * Databases created before rows carried `account_id`: add the column, fill it from the payloads (in
 * JavaScript: a payload may hold `\u0000`, which PostgreSQL's json operators refuse), and drop what
 * accounts deleted back then left behind. Runs once, inside the migration's locked transaction.
 */
async function addAccountColumn(client: pg.PoolClient): Promise<void> {
  const { rowCount } = await client.query(`SELECT 1 FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = 'oidc' AND column_name = 'account_id'`);
  if (rowCount) return;
  await client.query('ALTER TABLE oidc ADD COLUMN account_id TEXT');
  const { rows } = await client.query<{ model: string; id: string; payload: string }>(`SELECT model, id, payload FROM oidc WHERE model <> 'Client'`);
  for (const row of rows) {
    const accountId = accountIdOf(JSON.parse(row.payload) as AdapterPayload);
    if (accountId) await client.query('UPDATE oidc SET account_id = $1 WHERE model = $2 AND id = $3', [accountId, row.model, row.id]);
  }
  await client.query('DELETE FROM oidc WHERE account_id IS NOT NULL AND account_id NOT IN (SELECT sub FROM accounts)');
}

/** Waits for a server that is starting (57P03) or not listening yet, as replicas starting beside it will. */
async function connect(pool: pg.Pool, timeoutMs: number): Promise<pg.PoolClient> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await pool.connect();
    } catch (err) {
      const code = (err as { code?: string }).code;
      const transient = code === 'ECONNREFUSED' || code === '57P03' || code === 'ENOTFOUND' || code === 'EAI_AGAIN';
      if (!transient || Date.now() > deadline) throw err;
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
  }
}

function withTimeout<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${message} within ${ms} ms`)), ms)));
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** host:port/database of a connection string, without its password. */
function describe(url: string): string {
  try {
    const parsed = new URL(url);
    return `${parsed.hostname}${parsed.port ? `:${parsed.port}` : ''}${parsed.pathname}`;
  } catch {
    return '(unparsable IDP_DATABASE_URL)';
  }
}
