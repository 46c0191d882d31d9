import pg from 'pg';
import { SettingNotFoundError } from './errors.ts';
import type { SettingsStore } from './types.ts';

/** The channel every replica LISTENs on; the payload is the changed setting's name. */
const CHANNEL = 'idp_settings';
const RECONNECT_MS = 5000;

/**
 * Databases created before settings could change: the version counter and the time of the last
 * change. Runs inside the migration's locked transaction.
 */
export async function migrateSettings(client: pg.PoolClient): Promise<void> {
  await client.query(`ALTER TABLE idp_settings ADD COLUMN IF NOT EXISTS version BIGINT NOT NULL DEFAULT 1,
    ADD COLUMN IF NOT EXISTS updated_at TIMESTAMPTZ NOT NULL DEFAULT now()`);
}

/**
 * Shared settings in `idp_settings`. Written once on first start (`getOrCreate`: the first replica
 * wins), then changed only through `update`, which locks the row, bumps `version` and NOTIFYs every
 * replica in the same transaction (a notification is delivered only if the change commits).
 */
export function postgresSettings(pool: pg.Pool, url: string, onError: (err: Error) => void): SettingsStore {
  const read = async (name: string) => {
    const { rows } = await pool.query<{ value: string; version: string }>('SELECT value, version FROM idp_settings WHERE name = $1', [name]);
    return rows[0] && { value: rows[0].value, version: Number(rows[0].version) };
  };
  return {
    async getOrCreate(name, create) {
      const existing = await read(name);
      if (existing !== undefined) return existing.value;
      // Whoever inserts first wins; the others' values are dropped and everyone reads the winner's.
      // Each statement is its own READ COMMITTED transaction, so the re-read sees the winner's commit.
      await pool.query('INSERT INTO idp_settings (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING', [name, await create()]);
      const stored = await read(name);
      if (stored === undefined) throw new Error(`setting ${name} vanished while being created`);
      return stored.value;
    },
    read,
    async update(name, change) {
      // One client for the transaction; the row lock makes two concurrent updates (two `npm run keys`)
      // apply one after the other instead of one overwriting the other.
      const client = await pool.connect();
      try {
        await client.query('BEGIN ISOLATION LEVEL READ COMMITTED');
        const { rows } = await client.query<{ value: string }>('SELECT value FROM idp_settings WHERE name = $1 FOR UPDATE', [name]);
        if (!rows[0]) throw new SettingNotFoundError(name);
        const value = await change(rows[0].value);
        const updated = await client.query<{ version: string }>(
          'UPDATE idp_settings SET value = $2, version = version + 1, updated_at = now() WHERE name = $1 RETURNING version',
          [name, value],
        );
        await client.query('SELECT pg_notify($1, $2)', [CHANNEL, name]);
        await client.query('COMMIT');
        return { value, version: Number(updated.rows[0]!.version) };
      } catch (err) {
        await client.query('ROLLBACK').catch(() => {});
        throw err;
      } finally {
        client.release();
      }
    },
    async watch(listener) {
      // LISTEN holds its connection for good: a client of its own, not one of the pool's. A dropped
      // link is re-established every RECONNECT_MS; changes made meanwhile are announced as "anything".
      let closed = false;
      let current: pg.Client | undefined;
      let retry: NodeJS.Timeout | undefined;
      const reconnect = () => {
        if (closed || retry) return;
        retry = setTimeout(() => {
          retry = undefined;
          connect().then(() => listener(undefined), reconnect);
        }, RECONNECT_MS).unref();
      };
      const connect = async () => {
        const client = new pg.Client({ connectionString: url, application_name: 'idp-settings-listener' });
        client.on('error', onError);
        client.on('end', () => {
          if (current === client) current = undefined;
          reconnect();
        });
        client.on('notification', (message) => {
          if (message.channel === CHANNEL) listener(message.payload || undefined);
        });
        try {
          await client.connect();
          await client.query(`LISTEN ${CHANNEL}`);
        } catch (err) {
          await client.end().catch(() => {});
          throw err;
        }
        if (closed) await client.end();
        else current = client;
      };
      await connect();
      return async () => {
        closed = true;
        clearTimeout(retry);
        await current?.end();
      };
    },
  };
}
