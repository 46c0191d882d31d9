import { errors } from 'oidc-provider';
import type pg from 'pg';
import type { ClientCache } from './postgresClients.ts';

export type Row = { payload: string; consumed: string | null };
type Waiter = { resolve: (row: Row | undefined) => void; reject: (err: unknown) => void };

const LIVE = '(expires_at IS NULL OR expires_at > now())';
const key = (model: string, id: string) => `${model}\0${id}`;

/**
 * Finds of one turn of the event loop in one statement. oidc-provider looks a token up under several
 * models at once (introspection asks AccessToken and ClientCredentials together), and concurrent
 * requests add theirs: each costs the driver a round trip, which is most of what PostgreSQL adds to a
 * request. Nothing is cached: every find is answered by a statement sent after it was asked.
 */
export function batchedFinds(pool: pg.Pool): (model: string, id: string) => Promise<Row | undefined> {
  let pending: Map<string, { model: string; id: string; waiters: Waiter[] }> | undefined;
  const flush = async () => {
    const batch = pending!;
    pending = undefined;
    const wanted = [...batch.values()];
    try {
      const { rows } =
        wanted.length === 1
          ? await pool.query<Row & { model: string; id: string }>({
              name: 'idp_find',
              text: `SELECT model, id, payload, consumed FROM oidc WHERE model = $1 AND id = $2 AND ${LIVE}`,
              values: [wanted[0]!.model, wanted[0]!.id],
            })
          : await pool.query<Row & { model: string; id: string }>({
              name: 'idp_find_many',
              text: `SELECT o.model, o.id, o.payload, o.consumed FROM oidc o JOIN unnest($1::text[], $2::text[]) AS k(model, id) ON o.model = k.model AND o.id = k.id WHERE ${LIVE}`,
              values: [wanted.map((w) => w.model), wanted.map((w) => w.id)],
            });
      const found = new Map(rows.map((row) => [key(row.model, row.id), row]));
      for (const [k, { waiters }] of batch) for (const w of waiters) w.resolve(found.get(k));
    } catch (err) {
      for (const { waiters } of batch.values()) for (const w of waiters) w.reject(err);
    }
  };
  return (model, id) =>
    new Promise((resolve, reject) => {
      if (!pending) {
        pending = new Map();
        setImmediate(flush);
      }
      const k = key(model, id);
      const entry = pending.get(k) ?? { model, id, waiters: [] };
      entry.waiters.push({ resolve, reject });
      pending.set(k, entry);
    });
}

/** The request a store call belongs to (oidc-provider's koa context), or undefined outside one. */
export type RequestScope = () => object | undefined;

/**
 * Client lookups through the replica's client cache, and what makes that cache safe for tokens.
 *
 * A client is served from the cache only within an oidc-provider request (`scope`), and the request
 * remembers which cached payload it relied on. Its next token read (`tokenFind`) fetches those clients'
 * rows in the same statement, and its next token write (`guardOf`) is conditional on them: if another
 * replica changed or deleted the client meanwhile (its notification not arrived yet), the request
 * fails with invalid_client instead of answering with stale credentials, and the entry is dropped.
 * So a deleted client, or a rotated secret, is refused on the very next request that touches a token,
 * at every replica — as without the cache. Outside a request (the admin API's read-modify-write) the
 * database is always read.
 */
export function clientReads(find: ReturnType<typeof batchedFinds>, cache: ClientCache, scope: RequestScope) {
  const relied = new WeakMap<object, Map<string, string>>();

  const stale = (clientId: string) => {
    cache.evict(clientId);
    // 401 invalid_client, as for a wrong secret; the detail goes to oidc-provider's events, not the response.
    return new errors.InvalidClientAuth(`client ${clientId} changed at another replica`);
  };

  return {
    async findClient(id: string): Promise<Row | undefined> {
      const request = scope();
      const cached = request && cache.get(id);
      if (request && cached !== undefined) {
        const reliedOn = relied.get(request) ?? new Map<string, string>();
        relied.set(request, reliedOn.set(id, cached));
        return { payload: cached, consumed: null };
      }
      const since = cache.epoch();
      const row = await find('Client', id);
      if (row) cache.fill(id, row.payload, since);
      return row;
    },

    /** A token row, and in the same statement the cached clients this request relied on. */
    async tokenFind(model: string, id: string): Promise<Row | undefined> {
      const request = scope();
      const checks = request ? [...(relied.get(request) ?? [])] : [];
      if (!checks.length) return find(model, id);
      const since = cache.epoch();
      const [row, ...clients] = await Promise.all([find(model, id), ...checks.map(([clientId]) => find('Client', clientId))]);
      checks.forEach(([clientId, payload], i) => {
        if (clients[i]?.payload !== payload) throw stale(clientId);
        relied.get(request!)?.delete(clientId); // checked as of this statement: fresh from here on
        cache.fill(clientId, payload, since);
      });
      return row;
    },

    /**
     * For a write of a row issued to `clientId`: the payload the write must find stored for it (what
     * this request relied on), or null when the request read the client from the database itself.
     */
    guardOf(clientId: string): string | null {
      const request = scope();
      return (request && relied.get(request)?.get(clientId)) ?? null;
    },

    /** The guarded write found the client changed or gone. */
    refused: stale,

    /** The guarded write found the client as relied on: fresh from here on. */
    confirmed(clientId: string) {
      const request = scope();
      if (request) relied.get(request)?.delete(clientId);
    },
  };
}
