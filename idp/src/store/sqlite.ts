import { LRUCache } from 'lru-cache';
import type { Adapter, AdapterPayload } from 'oidc-provider';
import { openDatabaseFile } from './sqliteFile.ts';
import { DEFAULT_EVENT_RETENTION_SECONDS, EVENTS_LOST, REVOCABLE_TOKENS, streamColumns, tokenRevoked, toStream, typed, Waiters, type StreamRow } from './streams.ts';
import { accountIdOf } from './subject.ts';
import type { Account, QueuedEvent, RevocationFact, Store, StoredResourceServer, StreamStore } from './types.ts';

type Row = { payload: string; expires_at: number | null };
/** What the read cache holds for a (model, id): the row as stored, or `null` when there is none. */
type Cached = { row: Row | null };
/** An upsert waiting for its batch's commit. */
type Pending = { row: Row; params: unknown[] };

const PURGE_BATCH = 1000;
/** Rows kept in memory (~0.3–2 kB each): enough for every client and the tokens in current use. */
const CACHE_ROWS = 10_000;

export type SqliteStoreOptions = {
  /** Milliseconds, like Date.now (tests move it). */
  now?: () => number;
  /**
   * How long an unacknowledged Shared Signals event is kept: the longest token lifetime, after which
   * the token it names has expired anyway. Older ones are purged and their stream told (stream-updated).
   */
  eventRetentionSeconds?: number;
  /** Expired rows deleted per statement by purgeExpired, which lets requests run between statements. */
  purgeBatch?: number;
};
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
export function openSqliteStore(
  file: string,
  { now = Date.now, eventRetentionSeconds = DEFAULT_EVENT_RETENTION_SECONDS, purgeBatch = PURGE_BATCH }: SqliteStoreOptions = {},
): Store {
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
    destroyToken: db.prepare<[string, string], { client_id: string | null; account_id: string | null }>('DELETE FROM oidc WHERE model = ? AND id = ? RETURNING client_id, account_id'),
    revokeByGrantId: db.prepare<[string, string], { id: string }>('DELETE FROM oidc WHERE model = ? AND grant_id = ? RETURNING id'),
    // Who a grant belongs to, from anything of it still stored: its Grant row or a row issued under it.
    grantOwner: db.prepare<[string, string], { client_id: string; account_id: string }>(`SELECT client_id, account_id FROM oidc
      WHERE ((model = 'Grant' AND id = ?) OR grant_id = ?) AND client_id IS NOT NULL AND account_id IS NOT NULL LIMIT 1`),
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
    purge: db.prepare<[number, number]>(
      'DELETE FROM oidc WHERE rowid IN (SELECT rowid FROM oidc WHERE expires_at IS NOT NULL AND expires_at <= ? LIMIT ?)',
    ),
    // Shared Signals. The fan-out: one statement, one queued event per stream that takes the fact's
    // type, read from the table every time (no stream is cached); with no stream it reads an empty table.
    // A dedupe key the stream holds unacknowledged already queues nothing.
    fanOut: db.prepare<[number, string, string | null, string], { stream_id: string }>(`INSERT INTO ssf_events (stream_id, jti, iat, fact, dedupe)
      SELECT id, lower(hex(randomblob(16))), ?, ?, ? FROM ssf_streams
      WHERE status <> 'disabled' AND EXISTS (SELECT 1 FROM json_each(ssf_streams.events_delivered) WHERE value = ?)
      ON CONFLICT DO NOTHING RETURNING stream_id`),
    enqueue: db.prepare<[number, string, string], { stream_id: string }>(`INSERT INTO ssf_events (stream_id, jti, iat, fact)
      SELECT id, lower(hex(randomblob(16))), ?, ? FROM ssf_streams WHERE id = ? RETURNING stream_id`),
    createStream: db.prepare(`INSERT INTO ssf_streams (id, client_id, status, reason, config, events_delivered, inactivity_timeout, created_at, last_polled_at)
      VALUES (@id, @client_id, @status, @reason, @config, @events_delivered, @inactivity_timeout, @created_at, @last_polled_at)`),
    findStream: db.prepare<[string], StreamRow>('SELECT * FROM ssf_streams WHERE id = ?'),
    streamsOf: db.prepare<[string], StreamRow>('SELECT * FROM ssf_streams WHERE client_id = ? ORDER BY created_at, id'),
    updateStream: db.prepare(`UPDATE ssf_streams SET status = @status, reason = @reason, config = @config, events_delivered = @events_delivered,
      inactivity_timeout = @inactivity_timeout WHERE id = @id`),
    deleteStream: db.prepare<[string]>('DELETE FROM ssf_streams WHERE id = ?'),
    deleteStreamEvents: db.prepare<[string]>('DELETE FROM ssf_events WHERE stream_id = ?'),
    markPolled: db.prepare<[number, string], { status: string }>('UPDATE ssf_streams SET last_polled_at = ? WHERE id = ? RETURNING status'),
    queued: db.prepare<[string, number], { jti: string; iat: number; fact: string }>('SELECT jti, iat, fact FROM ssf_events WHERE stream_id = ? ORDER BY seq LIMIT ?'),
    // Something a poll would deliver now, or no stream at all (the poll then says so): a waiter need not wait.
    deliverable: db.prepare<[string, string], { yes: number }>(`SELECT 1 AS yes WHERE NOT EXISTS (SELECT 1 FROM ssf_streams WHERE id = ?)
      OR EXISTS (SELECT 1 FROM ssf_events e JOIN ssf_streams s ON s.id = e.stream_id WHERE e.stream_id = ? AND s.status = 'enabled')`),
    acknowledge: db.prepare<[string, string]>('DELETE FROM ssf_events WHERE stream_id = ? AND jti IN (SELECT value FROM json_each(?))'),
    revokeJwt: db.prepare<[string, number]>('INSERT INTO ssf_revoked_jwts (jti, exp) VALUES (?, ?) ON CONFLICT (jti) DO NOTHING'),
    isJwtRevoked: db.prepare<[string, number], { yes: number }>('SELECT 1 AS yes FROM ssf_revoked_jwts WHERE jti = ? AND exp > ?'),
    purgeRevokedJwts: db.prepare<[number]>('DELETE FROM ssf_revoked_jwts WHERE exp <= ?'),
    losingEvents: db.prepare<[number], { stream_id: string }>('SELECT DISTINCT stream_id FROM ssf_events WHERE iat <= ?'),
    purgeEvents: db.prepare<[number]>('DELETE FROM ssf_events WHERE iat <= ?'),
    inactiveStreams: db.prepare<[number], { id: string }>('SELECT id FROM ssf_streams WHERE inactivity_timeout IS NOT NULL AND last_polled_at + inactivity_timeout <= ?'),
    streamStatus: db.prepare<[string], { status: string }>('SELECT status FROM ssf_streams WHERE id = ?'),
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

  // Long polls of this process. The file is this process's alone, so every event is queued here:
  // waking after the commit is enough, no other process can queue one.
  const waiters = new Waiters();
  /** Streams given an event by the transaction now running, woken once it has committed. */
  let queuedFor: string[] = [];
  const fanOut = (fact: RevocationFact, dedupe: string | null = null) => {
    const { type, fact: json } = typed(fact);
    for (const row of stmt.fanOut.all(seconds(), json, dedupe, type)) queuedFor.push(row.stream_id);
  };
  /** A grant ended: its one session-revoked (see streams.ts), named from what of it is stored before this deletion. */
  const grantEnded = (grantId: string, owner: { client_id: string; account_id: string } | undefined) => {
    if (owner) fanOut({ kind: 'session-revoked', sub: owner.account_id, clientId: owner.client_id }, `session:${grantId}`);
  };
  /** `tx` (a db.transaction) run now, then the streams it queued events for woken: after the commit, never before. */
  const emitting =
    <A extends unknown[], R>(tx: (...args: A) => R) =>
    (...args: A): R => {
      queuedFor = [];
      try {
        return tx(...args);
      } finally {
        const woken = new Set(queuedFor);
        queuedFor = [];
        for (const id of woken) waiters.wake(id);
      }
    };

  // A token revoked and its event queued in one transaction: the revocation is not answered before its event is stored.
  const destroyToken = emitting(
    db.transaction((model: string, id: string) => {
      const row = stmt.destroyToken.get(model, id);
      evict(model, id);
      if (row) fanOut(tokenRevoked(REVOCABLE_TOKENS[model]!, id, row));
    }),
  );
  const revokeGrant = emitting(
    db.transaction((model: string, grantId: string) => {
      const owner = stmt.grantOwner.get(grantId, grantId);
      for (const row of stmt.revokeByGrantId.all(model, grantId)) evict(model, row.id);
      grantEnded(grantId, owner);
    }),
  );
  const destroyGrant = emitting(
    db.transaction((grantId: string) => {
      const owner = stmt.grantOwner.get(grantId, grantId);
      stmt.destroy.run('Grant', grantId);
      evict('Grant', grantId);
      grantEnded(grantId, owner);
    }),
  );

  const deleteClient = emitting(
    db.transaction((clientId: string) => {
      const { changes } = stmt.deleteClient.run(clientId);
      evict('Client', clientId);
      if (changes) for (const row of stmt.deleteIssuedTo.all(clientId)) evict(row.model, row.id);
      if (changes) fanOut({ kind: 'client-deleted', clientId });
      return changes > 0;
    }),
  );
  // Offboarding is revocation: the account and every session, grant, token and code of its subject
  // go in one transaction, so nothing issued to it is honoured a moment longer.
  const deleteAccount = emitting(
    db.transaction((username: string) => {
      const deleted = stmt.deleteAccount.get(username);
      if (!deleted) return false;
      for (const row of stmt.deleteOfAccount.all(deleted.sub)) evict(row.model, row.id);
      fanOut({ kind: 'account-purged', sub: deleted.sub });
      return true;
    }),
  );

  const enqueue = emitting(
    db.transaction((streamId: string, facts: RevocationFact[]) => {
      for (const fact of facts) for (const row of stmt.enqueue.all(seconds(), JSON.stringify(fact), streamId)) queuedFor.push(row.stream_id);
    }),
  );
  const revokeJwt = emitting(
    db.transaction((fact: Extract<RevocationFact, { kind: 'jwt-revoked' }>) => {
      // A jti revoked again is not a new event.
      if (stmt.revokeJwt.run(fact.jti, fact.exp).changes) fanOut(fact);
    }),
  );
  const removeStream = db.transaction((id: string) => {
    stmt.deleteStreamEvents.run(id);
    return stmt.deleteStream.run(id).changes > 0;
  });
  const poll = db.transaction((streamId: string, max: number): QueuedEvent[] => {
    const stream = stmt.markPolled.get(seconds(), streamId);
    // Paused (and disabled) streams hold their events: nothing is delivered until enabled again.
    if (stream?.status !== 'enabled' || max <= 0) return [];
    return stmt.queued.all(streamId, Math.floor(max)).map((e) => ({ jti: e.jti, iat: e.iat, fact: JSON.parse(e.fact) as RevocationFact }));
  });
  /**
   * Events older than the retention go, and so do streams unpolled for their inactivity_timeout (with
   * their queues); a stream that lost unacknowledged events, and remains, is queued a stream-updated
   * so its receiver knows to flush. Revoked JWT ids go once their token has expired.
   */
  const purgeStreams = emitting(
    db.transaction((at: number): number => {
      let purged = stmt.purgeRevokedJwts.run(at).changes;
      const inactive = stmt.inactiveStreams.all(at).map((s) => s.id);
      for (const id of inactive) {
        purged += stmt.deleteStreamEvents.run(id).changes;
        purged += stmt.deleteStream.run(id).changes;
        queuedFor.push(id); // its waiters re-poll and find it gone
      }
      const cutoff = at - eventRetentionSeconds;
      const losing = stmt.losingEvents.all(cutoff).map((s) => s.stream_id);
      purged += stmt.purgeEvents.run(cutoff).changes;
      for (const id of losing) {
        const stream = stmt.streamStatus.get(id);
        if (!stream) continue;
        const fact: RevocationFact = { kind: 'stream-updated', status: stream.status as 'enabled' | 'paused' | 'disabled', reason: EVENTS_LOST };
        for (const row of stmt.enqueue.all(at, JSON.stringify(fact), id)) queuedFor.push(row.stream_id);
      }
      return purged;
    }),
  );

  const streams: StreamStore = {
    create: after((stream) => void stmt.createStream.run({ ...streamColumns(stream), events_delivered: JSON.stringify(streamColumns(stream).events_delivered) })),
    find: after((id: string) => {
      const row = stmt.findStream.get(id);
      return row && toStream(row);
    }),
    listForClient: after((clientId: string) => stmt.streamsOf.all(clientId).map(toStream)),
    update: after((stream) => {
      const columns = streamColumns(stream);
      const changed = stmt.updateStream.run({ ...columns, events_delivered: JSON.stringify(columns.events_delivered) }).changes > 0;
      // Enabled again: what it held is deliverable now.
      if (changed) waiters.wake(stream.id);
      return changed;
    }),
    remove: after((id: string) => {
      const removed = removeStream(id);
      if (removed) waiters.wake(id);
      return removed;
    }),
    enqueue: after((streamId: string, facts: RevocationFact[]) => enqueue(streamId, facts)),
    poll: after((streamId: string, max: number) => poll(streamId, max)),
    acknowledge: after((streamId: string, jtis: string[]) => void stmt.acknowledge.run(streamId, JSON.stringify(jtis))),
    async waitForEvents(streamId, signal) {
      commit();
      return waiters.wait(streamId, signal, (wake) => {
        if (stmt.deliverable.get(streamId, streamId)) wake();
      });
    },
    revokeJwt: after((fact: Extract<RevocationFact, { kind: 'jwt-revoked' }>) => revokeJwt(fact)),
    isJwtRevoked: after((jti: string) => stmt.isJwtRevoked.get(jti, seconds()) !== undefined),
  };

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
          if (model in REVOCABLE_TOKENS) return destroyToken(model, id);
          if (model === 'Grant') return destroyGrant(id);
          stmt.destroy.run(model, id);
          evict(model, id);
        }),
        revokeByGrantId: after((grantId: string) => revokeGrant(model, grantId)),
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
    // In batches with a turn of the event loop between them: better-sqlite3 is synchronous, and one
    // DELETE of 100,000 expired rows held the IDP for 13 s (bench phase 7); a batch takes milliseconds.
    async purgeExpired() {
      let purged = 0;
      for (;;) {
        const deleted = await after(() => stmt.purge.run(seconds(), purgeBatch).changes)();
        purged += deleted;
        if (deleted < purgeBatch) break;
        await new Promise((resolve) => setImmediate(resolve));
      }
      return purged + (await after(() => purgeStreams(seconds()))());
    },
    streams,
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
      waiters.wakeAll(); // long polls end now; their re-poll fails as the store is closed
    }),
  };
}

