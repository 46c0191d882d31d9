import pg from 'pg';
import { EVENT_TYPES } from '../ssf/eventTypes.ts';
import { EVENTS_LOST, streamColumns, toStream, typed, Waiters, type StreamRow } from './streams.ts';
import type { QueuedEvent, RevocationFact, StreamStore } from './types.ts';

/**
 * The Shared Signals half of the PostgreSQL store (issue 16), kept beside postgres.ts: its tables,
 * the SQL that queues a revocation's events inside the revocation's own statement, the StreamStore,
 * and the LISTEN connection that wakes long polls across replicas.
 */

// A stream's events_delivered and inactivity_timeout are copied out of its config (TEXT, like every
// payload here: JSONB would refuse a `\u0000` in a receiver's description) for the fan-out and the purge.
export const SSF_SCHEMA = `
CREATE TABLE IF NOT EXISTS ssf_streams (
  id                 TEXT PRIMARY KEY,
  client_id          TEXT NOT NULL,
  status             TEXT NOT NULL,
  reason             TEXT,
  config             TEXT NOT NULL,
  events_delivered   TEXT[] NOT NULL,
  inactivity_timeout BIGINT,
  created_at         BIGINT NOT NULL,
  last_polled_at     BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS ssf_streams_client ON ssf_streams (client_id);
CREATE TABLE IF NOT EXISTS ssf_events (
  seq       BIGSERIAL,
  stream_id TEXT NOT NULL REFERENCES ssf_streams (id) ON DELETE CASCADE,
  jti       TEXT NOT NULL,
  iat       BIGINT NOT NULL,
  fact      TEXT NOT NULL,
  dedupe    TEXT,
  PRIMARY KEY (stream_id, jti)
);
CREATE UNIQUE INDEX IF NOT EXISTS ssf_events_dedupe ON ssf_events (stream_id, dedupe) WHERE dedupe IS NOT NULL;
CREATE INDEX IF NOT EXISTS ssf_events_stream ON ssf_events (stream_id, seq);
CREATE INDEX IF NOT EXISTS ssf_events_iat ON ssf_events (iat);
CREATE TABLE IF NOT EXISTS ssf_revoked_jwts (
  jti TEXT PRIMARY KEY,
  exp BIGINT NOT NULL
);
`;

/** The NOTIFY channel; the payload is the stream id. */
export const SSF_CHANNEL = 'idp_ssf_events';
const NOW_S = 'floor(extract(epoch FROM now()))::bigint';
/** Any constant every replica shares: "the SSF purge" (two replicas purging at once would each tell a stream it lost events). */
const PURGE_LOCK = 4_171_952_382;

/**
 * CTEs to append after those of a revocation statement: `facts` is a SELECT of (fact TEXT, type TEXT,
 * dedupe TEXT) rows, usually of a CTE that deleted something. One queued event per stream that is not
 * disabled and delivers the type, read in the same statement (no stream cached in a replica), unless
 * the stream holds an unacknowledged event of the same dedupe key; and one NOTIFY per stream given an
 * event, delivered by PostgreSQL when the transaction commits. The statement must select
 * `(SELECT n FROM notified)` so that this CTE runs.
 */
export const fanOutCtes = (facts: string) => `
  queued AS (
    INSERT INTO ssf_events (stream_id, jti, iat, fact, dedupe)
    SELECT s.id, gen_random_uuid()::text, ${NOW_S}, f.fact, f.dedupe
    FROM (${facts}) f JOIN ssf_streams s ON s.status <> 'disabled' AND f.type = ANY (s.events_delivered)
    ON CONFLICT DO NOTHING
    RETURNING stream_id),
  notified AS (SELECT count(*) AS n FROM (SELECT pg_notify('${SSF_CHANNEL}', d.stream_id) FROM (SELECT DISTINCT stream_id FROM queued) d) p)`;

/** The fact of a destroyed token, built from its deleted row `gone` ($3: token type, $4: hash, $5: event type). */
export const TOKEN_REVOKED_FACT = `SELECT json_strip_nulls(json_build_object('kind', 'token-revoked', 'tokenType', $3::text, 'tokenHash', $4::text,
  'sub', account_id, 'clientId', client_id))::text AS fact, $5::text AS type, NULL::text AS dedupe FROM gone`;

/**
 * The session-revoked of grant $2, from anything of it in the statement's snapshot (its Grant row or a
 * row issued under it, including those the statement deletes; $3: event type), once per stream.
 */
export const SESSION_REVOKED_FACT = `SELECT json_build_object('kind', 'session-revoked', 'sub', account_id, 'clientId', client_id)::text AS fact, $3::text AS type,
  'session:' || $2::text AS dedupe
  FROM (SELECT client_id, account_id FROM oidc WHERE ((model = 'Grant' AND id = $2) OR grant_id = $2)
        AND client_id IS NOT NULL AND account_id IS NOT NULL LIMIT 1) owner`;

export const CLIENT_DELETED_FACT = `SELECT json_build_object('kind', 'client-deleted', 'clientId', id)::text AS fact, '${EVENT_TYPES.clientDeleted}'::text AS type, NULL::text AS dedupe FROM client`;
export const ACCOUNT_PURGED_FACT = `SELECT json_build_object('kind', 'account-purged', 'sub', sub)::text AS fact, '${EVENT_TYPES.accountPurged}'::text AS type, NULL::text AS dedupe FROM account`;

type Query = <R extends pg.QueryResultRow>(name: string, text: string, values: unknown[]) => Promise<pg.QueryResult<R>>;

export type PostgresStreamsOptions = {
  url: string;
  pool: pg.Pool;
  query: Query;
  onError: (err: Error) => void;
  /** Seconds an unacknowledged event is kept (the longest token lifetime). */
  eventRetentionSeconds: number;
  /** While the LISTEN connection is down, waiters re-poll this often instead of waiting for a NOTIFY. */
  fallbackPollMs?: number;
};

/**
 * The StreamStore, the purge of its tables, and `close`. Long polls of this replica wait on one
 * dedicated connection LISTENing on SSF_CHANNEL (opened at the first wait, not at start-up), so a
 * revocation committed at any replica wakes them. When that connection drops, every waiter is woken
 * (it re-polls: a notification may have been lost), waiters re-poll every `fallbackPollMs` while it is
 * down, and it reconnects with a bounded backoff; each new wait checks the queue once listening, so
 * whatever was queued meanwhile is found.
 */
export function postgresStreams({ url, pool, query, onError, eventRetentionSeconds, fallbackPollMs = 1000 }: PostgresStreamsOptions) {
  const waiters = new Waiters();
  let listener: pg.Client | undefined;
  let listening: Promise<boolean> | undefined;
  /** Pending while the connection is down: until it fires, waiters fall back to re-polling. */
  let reconnect: NodeJS.Timeout | undefined;
  let failures = 0;
  let closed = false;

  const dropped = (client: pg.Client, wasUp: boolean, err?: Error) => {
    if (listener !== client) return; // already handled (an error and an end for one drop)
    listener = undefined;
    listening = undefined;
    client.end().catch(() => {});
    if (err) onError(err);
    // Notifications may be lost from now until it listens again: every waiter re-polls.
    if (wasUp) waiters.wakeAll();
    if (closed) return;
    failures++;
    clearTimeout(reconnect);
    reconnect = setTimeout(() => {
      reconnect = undefined;
      void listen();
    }, Math.min(5000, 100 * 2 ** Math.min(failures, 6))).unref();
  };
  /** Resolves true once this replica LISTENs, false when it cannot right now (a reconnect is then scheduled). */
  const listen = (): Promise<boolean> => {
    if (closed || (!listening && reconnect)) return Promise.resolve(false);
    listening ??= (async () => {
      const client = new pg.Client({ connectionString: url, application_name: 'idp_ssf_listener' });
      let up = false;
      listener = client;
      client.on('error', (err) => dropped(client, up, err));
      client.on('end', () => dropped(client, up));
      client.on('notification', (message) => {
        if (message.payload) waiters.wake(message.payload);
      });
      try {
        await client.connect();
        await client.query(`LISTEN ${SSF_CHANNEL}`);
      } catch (err) {
        dropped(client, false, err as Error);
        return false;
      }
      if (closed || listener !== client) return false;
      // Waiters from while it was down re-poll on their fallback timer; those arriving now check the queue once listening.
      up = true;
      failures = 0;
      return true;
    })();
    return listening;
  };

  const deliverable = async (streamId: string) =>
    (
      await query(
        'ssf_deliverable',
        `SELECT 1 WHERE NOT EXISTS (SELECT 1 FROM ssf_streams WHERE id = $1)
           OR EXISTS (SELECT 1 FROM ssf_events e JOIN ssf_streams s ON s.id = e.stream_id WHERE e.stream_id = $1 AND s.status = 'enabled')`,
        [streamId],
      )
    ).rowCount! > 0;

  const streams: StreamStore = {
    async create(stream) {
      const c = streamColumns(stream);
      await pool.query(
        `INSERT INTO ssf_streams (id, client_id, status, reason, config, events_delivered, inactivity_timeout, created_at, last_polled_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
        [c.id, c.client_id, c.status, c.reason, c.config, c.events_delivered, c.inactivity_timeout, c.created_at, c.last_polled_at],
      );
    },
    async find(id) {
      const { rows } = await query<StreamRow>('ssf_stream', 'SELECT * FROM ssf_streams WHERE id = $1', [id]);
      return rows[0] && toStream(rows[0]);
    },
    async listForClient(clientId) {
      const { rows } = await query<StreamRow>('ssf_streams_of', 'SELECT * FROM ssf_streams WHERE client_id = $1 ORDER BY created_at, id', [clientId]);
      return rows.map(toStream);
    },
    async update(stream) {
      const c = streamColumns(stream);
      // The NOTIFY wakes the stream's long polls at every replica: enabled again, what it held is deliverable.
      const { rows } = await pool.query<{ id: string }>(
        `WITH changed AS (UPDATE ssf_streams SET status = $2, reason = $3, config = $4, events_delivered = $5, inactivity_timeout = $6
           WHERE id = $1 RETURNING id)
         SELECT id, pg_notify('${SSF_CHANNEL}', id) FROM changed`,
        [c.id, c.status, c.reason, c.config, c.events_delivered, c.inactivity_timeout],
      );
      return rows.length > 0;
    },
    async remove(id) {
      // Its queue goes with it (ON DELETE CASCADE); its waiters re-poll and find it gone.
      const { rows } = await pool.query<{ id: string }>(
        `WITH gone AS (DELETE FROM ssf_streams WHERE id = $1 RETURNING id) SELECT id, pg_notify('${SSF_CHANNEL}', id) FROM gone`,
        [id],
      );
      return rows.length > 0;
    },
    async enqueue(streamId, facts) {
      if (!facts.length) return;
      await pool.query(
        `WITH queued AS (INSERT INTO ssf_events (stream_id, jti, iat, fact)
           SELECT s.id, gen_random_uuid()::text, ${NOW_S}, f.fact FROM ssf_streams s, unnest($2::text[]) WITH ORDINALITY AS f(fact, n)
           WHERE s.id = $1 ORDER BY f.n RETURNING stream_id)
         SELECT pg_notify('${SSF_CHANNEL}', $1) WHERE EXISTS (SELECT 1 FROM queued)`,
        [streamId, facts.map((fact) => JSON.stringify(fact))],
      );
    },
    async poll(streamId, max) {
      // Paused and disabled streams hold their events: only an enabled one delivers.
      const { rows } = await query<{ jti: string; iat: string; fact: string }>(
        'ssf_poll',
        `WITH polled AS (UPDATE ssf_streams SET last_polled_at = ${NOW_S} WHERE id = $1 RETURNING status)
         SELECT e.jti, e.iat, e.fact FROM ssf_events e, polled WHERE e.stream_id = $1 AND polled.status = 'enabled' ORDER BY e.seq LIMIT $2`,
        [streamId, Math.max(0, Math.floor(max))],
      );
      return rows.map((e): QueuedEvent => ({ jti: e.jti, iat: Number(e.iat), fact: JSON.parse(e.fact) as RevocationFact }));
    },
    async acknowledge(streamId, jtis) {
      if (!jtis.length) return;
      await query('ssf_ack', 'DELETE FROM ssf_events WHERE stream_id = $1 AND jti = ANY ($2::text[])', [streamId, jtis]);
    },
    waitForEvents(streamId, signal) {
      return waiters.wait(streamId, signal, (wake) => {
        let fallback: NodeJS.Timeout | undefined;
        let ended = false;
        // Once listening, whatever is queued from now on wakes it; what was queued before, the check finds.
        void listen()
          .then(async (up) => {
            if (ended) return;
            if (!up) {
              fallback = setTimeout(wake, fallbackPollMs).unref();
              return;
            }
            if (await deliverable(streamId)) wake();
          })
          .catch((err: unknown) => {
            onError(err as Error);
            wake(); // the re-poll reports the failure to the receiver
          });
        return () => {
          ended = true;
          clearTimeout(fallback);
        };
      });
    },
    async revokeJwt(fact) {
      const { type, fact: json } = typed(fact);
      // A jti already revoked is not a new event: only a newly inserted one fans out.
      await query(
        'ssf_revoke_jwt',
        `WITH revoked AS (INSERT INTO ssf_revoked_jwts (jti, exp) VALUES ($1, $2) ON CONFLICT (jti) DO NOTHING RETURNING jti),
         ${fanOutCtes('SELECT $3::text AS fact, $4::text AS type, NULL::text AS dedupe FROM revoked')}
         SELECT (SELECT n FROM notified) AS notified`,
        [fact.jti, fact.exp, json, type],
      );
    },
    async isJwtRevoked(jti) {
      return (await query('ssf_jwt_revoked', `SELECT 1 FROM ssf_revoked_jwts WHERE jti = $1 AND exp > extract(epoch FROM now())`, [jti])).rowCount! > 0;
    },
  };

  /**
   * Revoked JWT ids past exp; streams unpolled for their inactivity_timeout (their queues cascade);
   * events older than the retention, with a stream-updated for each remaining stream that lost some.
   * One replica at a time (a transaction-scoped advisory lock; the others skip): two purging at once
   * would each tell a stream it lost events. Returns how many rows went.
   */
  async function purge(): Promise<number> {
    const client = await pool.connect();
    try {
      await client.query('BEGIN');
      const { rows } = await client.query<{ locked: boolean }>('SELECT pg_try_advisory_xact_lock($1) AS locked', [PURGE_LOCK]);
      if (!rows[0]!.locked) {
        await client.query('COMMIT');
        return 0;
      }
      const jwts = await client.query(`DELETE FROM ssf_revoked_jwts WHERE exp <= ${NOW_S}`);
      const inactive = await client.query<{ id: string }>(
        `WITH gone AS (DELETE FROM ssf_streams WHERE inactivity_timeout IS NOT NULL AND last_polled_at + inactivity_timeout <= ${NOW_S} RETURNING id)
         SELECT id, pg_notify('${SSF_CHANNEL}', id) FROM gone`,
      );
      const lost = await client.query<{ purged: number }>(
        `WITH lost AS (DELETE FROM ssf_events WHERE iat <= ${NOW_S} - $1::bigint RETURNING stream_id),
              told AS (INSERT INTO ssf_events (stream_id, jti, iat, fact)
                SELECT s.id, gen_random_uuid()::text, ${NOW_S}, json_build_object('kind', 'stream-updated', 'status', s.status, 'reason', $2::text)::text
                FROM ssf_streams s WHERE s.id IN (SELECT stream_id FROM lost) RETURNING stream_id)
         SELECT (SELECT count(*) FROM lost)::int AS purged, (SELECT count(pg_notify('${SSF_CHANNEL}', stream_id)) FROM told) AS told`,
        [eventRetentionSeconds, EVENTS_LOST],
      );
      await client.query('COMMIT');
      return (jwts.rowCount ?? 0) + inactive.rows.length + lost.rows[0]!.purged;
    } catch (err) {
      await client.query('ROLLBACK').catch(() => {});
      throw err;
    } finally {
      client.release();
    }
  }

  async function close(): Promise<void> {
    closed = true;
    clearTimeout(reconnect);
    const client = listener;
    listener = undefined;
    waiters.wakeAll();
    await client?.end().catch(() => {});
  }

  return { streams, purge, close, waiters };
}
