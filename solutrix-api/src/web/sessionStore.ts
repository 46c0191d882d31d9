import session, { type SessionData } from 'express-session';
import { LRUCache } from 'lru-cache';

/**
 * express-session's MemoryStore never evicts and is documented as leaking; this one holds at most
 * `max` sessions, each for `idleTimeoutMs` after its last use (by the clock `now`, in ms). Sessions
 * are stored as JSON so a request's in-memory changes only reach the store when express-session saves
 * them.
 */
export class LruSessionStore extends session.Store {
  readonly #sessions: LRUCache<string, string>;

  constructor({ max, idleTimeoutMs, now = Date.now }: { max: number; idleTimeoutMs: number; now?: () => number }) {
    super();
    // ttlResolution 0: read the clock on every check instead of caching it for a millisecond.
    this.#sessions = new LRUCache({ max, ttl: idleTimeoutMs, ttlResolution: 0, perf: { now } });
  }

  /** Sessions held now. */
  get size(): number {
    return this.#sessions.size;
  }

  override get(sid: string, callback: (err: unknown, session?: SessionData | null) => void): void {
    const raw = this.#sessions.get(sid);
    if (raw === undefined) return callback(null, null);
    try {
      callback(null, JSON.parse(raw) as SessionData);
    } catch (err) {
      callback(err);
    }
  }

  override set(sid: string, data: SessionData, callback?: (err?: unknown) => void): void {
    this.#sessions.set(sid, JSON.stringify(data));
    callback?.();
  }

  override destroy(sid: string, callback?: (err?: unknown) => void): void {
    this.#sessions.delete(sid);
    callback?.();
  }

  /** Restarts the idle timeout of an unmodified session. */
  override touch(sid: string, _data: SessionData, callback?: () => void): void {
    const raw = this.#sessions.get(sid);
    if (raw !== undefined) this.#sessions.set(sid, raw);
    callback?.();
  }

  override length(callback: (err: unknown, length?: number) => void): void {
    callback(null, this.#sessions.size);
  }

  override clear(callback?: (err?: unknown) => void): void {
    this.#sessions.clear();
    callback?.();
  }
}
