import { createHash } from 'node:crypto';
import { eventTypeOf } from '../ssf/eventTypes.ts';
import type { RevocationFact, StoredStream, StreamStatus } from './types.ts';

/**
 * What both stores share for the Shared Signals queues (issue 16): which adapter deletions are token
 * revocations, how a token is named in an event, how a stream row maps to a StoredStream, and the
 * in-process wake-up of long polls.
 *
 * Emission rules (both stores, in the transaction of the deletion itself):
 * - `destroy` of an AccessToken, ClientCredentials or RefreshToken row that existed → one
 *   `token-revoked` (opaque tokens: the token value is the model id, oidc-provider's
 *   formats/opaque.js returns `{ value: token.jti }`), with sub/clientId from the row when it has them;
 * - a grant ended → one `session-revoked` {sub, clientId}. oidc-provider's helpers/revoke.js calls
 *   `revokeByGrantId` of up to six models and `Grant.destroy` at once (Promise.all: with PostgreSQL,
 *   concurrent transactions on different connections). Each of those calls queues the grant's
 *   session-revoked when anything of the grant is in its snapshot before its deletion (the Grant row,
 *   or a row carrying its grant_id) to name (sub, client), with the dedupe key `session:<grantId>`: a
 *   stream holding an unacknowledged event of that key gets no second one (a unique index; a
 *   concurrent second insert waits for the first's commit, then does nothing). So whichever call runs
 *   first queues it (it sees every row), the others find it queued: one event per revoked grant, and
 *   none for a grant of which nothing is left. A grant revoked again after its event was acknowledged,
 *   while rows of it remain, is a new event;
 * - `deleteClient` of a client that existed → `client-deleted`; `accounts.remove` of an account that
 *   existed → `account-purged`;
 * - `revokeJwt` of a jti not yet revoked → `jwt-revoked`.
 */

/** Default for the stores' `eventRetentionSeconds`: the longest default token lifetime (REFRESH_TOKEN_TTL, 14 days). */
export const DEFAULT_EVENT_RETENTION_SECONDS = 14 * 24 * 3600;

/** The adapter models whose `destroy` is a token revocation, and the token type events name them by. */
export const REVOCABLE_TOKENS: Readonly<Record<string, 'access_token' | 'refresh_token'>> = {
  AccessToken: 'access_token',
  ClientCredentials: 'access_token',
  RefreshToken: 'refresh_token',
};

/** base64url(SHA-256(value)): how an event names an opaque token, never by the token itself. */
export const tokenHash = (value: string): string => createHash('sha256').update(value).digest('base64url');

/** The fact of one destroyed token row; `sub`/`clientId` only when the row carries them. */
export function tokenRevoked(
  tokenType: 'access_token' | 'refresh_token',
  id: string,
  row: { client_id: string | null; account_id: string | null },
): RevocationFact {
  return {
    kind: 'token-revoked',
    tokenType,
    tokenHash: tokenHash(id),
    ...(row.account_id ? { sub: row.account_id } : {}),
    ...(row.client_id ? { clientId: row.client_id } : {}),
  };
}

/** The columns a stream is stored in; `events_delivered` and `inactivity_timeout` are copied out of the config for the fan-out and the purge. */
export type StreamColumns = {
  id: string;
  client_id: string;
  status: StreamStatus;
  reason: string | null;
  config: string;
  events_delivered: string[];
  inactivity_timeout: number | null;
  created_at: number;
  last_polled_at: number;
};

export function streamColumns(stream: StoredStream): StreamColumns {
  const delivered = stream.config.events_delivered;
  const timeout = stream.config.inactivity_timeout;
  return {
    id: stream.id,
    client_id: stream.clientId,
    status: stream.status,
    reason: stream.reason,
    config: JSON.stringify(stream.config),
    events_delivered: Array.isArray(delivered) ? delivered.filter((t): t is string => typeof t === 'string') : [],
    inactivity_timeout: typeof timeout === 'number' && Number.isFinite(timeout) && timeout > 0 ? Math.floor(timeout) : null,
    created_at: stream.createdAt,
    last_polled_at: stream.lastPolledAt,
  };
}

export type StreamRow = { id: string; client_id: string; status: string; reason: string | null; config: string; created_at: number | string; last_polled_at: number | string };

export const toStream = (row: StreamRow): StoredStream => ({
  id: row.id,
  clientId: row.client_id,
  status: row.status as StreamStatus,
  reason: row.reason,
  config: JSON.parse(row.config) as Record<string, unknown>,
  createdAt: Number(row.created_at),
  lastPolledAt: Number(row.last_polled_at),
});

/** The event a fact is fanned out as, and the fact as stored (JSON text). */
export const typed = (fact: RevocationFact) => ({ type: eventTypeOf(fact), fact: JSON.stringify(fact) });

/** What the purge queues for a stream that lost unacknowledged events: the receiver must flush. */
export const EVENTS_LOST = 'events lost';

/**
 * Long polls waiting in this process, by stream. `wake` resolves a stream's waiters, `wakeAll` every
 * one; an aborted signal resolves its waiter and removes it, so nothing outlives its request.
 */
export class Waiters {
  readonly #waiting = new Map<string, Set<() => void>>();

  /**
   * Resolves at the next wake of `streamId` (or all), or when `signal` aborts. `armed` runs once the
   * waiter is registered, with its resolver: a check made there (is something queued already?) cannot
   * miss an event queued between the caller's last poll and the wait. What `armed` returns runs when
   * the wait ends, however it ends (to clear a timer it set).
   */
  wait(streamId: string, signal: AbortSignal, armed?: (wake: () => void) => (() => void) | void): Promise<void> {
    if (signal.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      let set = this.#waiting.get(streamId);
      if (!set) this.#waiting.set(streamId, (set = new Set()));
      let cleanup: (() => void) | void;
      let ended = false;
      const done = () => {
        if (ended) return;
        ended = true;
        cleanup?.();
        signal.removeEventListener('abort', done);
        const current = this.#waiting.get(streamId);
        if (current?.delete(done) && current.size === 0) this.#waiting.delete(streamId);
        resolve();
      };
      set.add(done);
      signal.addEventListener('abort', done, { once: true });
      cleanup = armed?.(done);
      if (ended) cleanup?.();
    });
  }

  wake(streamId: string): void {
    for (const done of [...(this.#waiting.get(streamId) ?? [])]) done();
  }

  wakeAll(): void {
    for (const set of [...this.#waiting.values()]) for (const done of [...set]) done();
  }

  /** How many waiters are registered (tests: nothing leaks). */
  get size(): number {
    let n = 0;
    for (const set of this.#waiting.values()) n += set.size;
    return n;
  }
}
