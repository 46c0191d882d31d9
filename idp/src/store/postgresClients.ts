import pg from 'pg';

/** The channel the `oidc` table's trigger (postgres.ts) notifies with a client's id whenever its row changes. */
export const CLIENT_CHANNEL = 'idp_clients';

export type ClientCache = {
  /** The stored payload text of a client, while notifications flow and it is cached; otherwise undefined. */
  get(id: string): string | undefined;
  /** Counts invalidations: a read that started before one must not fill the cache (`fill`'s `since`). */
  epoch(): number;
  /** Caches a payload read at `since` (an `epoch()`), unless anything was invalidated meanwhile. */
  fill(id: string, payload: string, since: number): void;
  evict(id: string): void;
  /** True while the listener is connected and listening: only then is anything cached or served. */
  readonly listening: boolean;
  close(): Promise<void>;
};

export type ClientCacheOptions = {
  /** Wait before listening again after the notification connection failed. */
  retryMs?: number;
  onError?: (err: Error) => void;
  /** At most this many clients are kept (the oldest entry goes first). */
  maxEntries?: number;
  /** Called each time LISTEN succeeds and the cache is in use (again). */
  onListening?: () => void;
};

/**
 * Client metadata of one replica, invalidated across replicas by LISTEN/NOTIFY: every change of a
 * client's row (create, update, secret rotation, delete, whichever replica or tool made it) notifies
 * its id on commit, in the writing transaction itself (a trigger), and every replica's listener
 * drops that entry. While the listener is not connected nothing is cached and nothing is served from
 * the cache: notifications sent meanwhile are lost, so the cache is emptied when the connection
 * fails and filled again only once LISTEN is back.
 *
 * What this keeps: a replica serves a client's metadata that may be older than the database by the
 * notification's delay (the time for a commit at one replica to reach another's listener). The store
 * never lets that delay matter for tokens: see `postgresReads.ts`, which checks every cached client a
 * request relied on against the database in the same statement as that request's next token read or
 * write.
 */
export function listenForClientChanges(url: string, { retryMs = 1000, onError = () => {}, maxEntries = 10_000, onListening = () => {} }: ClientCacheOptions = {}): ClientCache {
  const entries = new Map<string, string>();
  let epoch = 0;
  let listening = false;
  let closed = false;
  let listener: pg.Client | undefined;
  let retry: NodeJS.Timeout | undefined;

  const invalidateAll = () => {
    epoch++;
    entries.clear();
  };
  /** The current listener failed: nothing is served from the cache until another one listens. */
  const down = (failed: pg.Client, err: Error) => {
    if (listener !== failed) return; // an earlier connection's late error or end
    onError(err);
    listening = false;
    invalidateAll();
    listener = undefined;
    failed.end().catch(() => {});
    if (!closed) retry = setTimeout(connect, retryMs).unref();
  };
  const connect = () => {
    retry = undefined;
    if (closed) return;
    const client = new pg.Client({ connectionString: url, application_name: 'idp-listener', keepAlive: true });
    listener = client;
    client.on('error', (err) => down(client, err));
    client.on('end', () => down(client, new Error('the notification connection ended')));
    client.on('notification', (message) => {
      epoch++;
      if (message.payload !== undefined) entries.delete(message.payload);
    });
    client
      .connect()
      .then(() => client.query(`LISTEN ${CLIENT_CHANNEL}`))
      .then(() => {
        if (listener !== client) return;
        invalidateAll(); // whatever changed while nobody listened
        listening = true;
        onListening();
      })
      .catch((err: Error) => down(client, err));
  };
  connect();

  return {
    get: (id) => (listening ? entries.get(id) : undefined),
    epoch: () => epoch,
    fill(id, payload, since) {
      if (!listening || since !== epoch) return;
      if (entries.size >= maxEntries) entries.delete(entries.keys().next().value!);
      entries.set(id, payload);
    },
    evict(id) {
      epoch++;
      entries.delete(id);
    },
    get listening() {
      return listening;
    },
    async close() {
      closed = true;
      clearTimeout(retry);
      listening = false;
      entries.clear();
      const client = listener;
      listener = undefined; // its 'end' is then no failure
      await client?.end().catch(() => {});
    },
  };
}
