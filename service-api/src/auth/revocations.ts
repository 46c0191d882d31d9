import { LRUCache } from 'lru-cache';

/** What a verified revocation event asks the caches to forget (see ssfReceiver.ts for the SET mapping). */
export type Revocation =
  /** One token, by base64url SHA-256 of its value: the caches' own key. */
  | { kind: 'token'; tokenHash: string }
  /** One JWT access token, refused by its `jti` until `exp` (epoch s). */
  | { kind: 'jwt'; jti: string; exp: number }
  /** Every token of this subject through this client (sign-out, consent revoked). */
  | { kind: 'session'; subject: string; clientId: string }
  | { kind: 'client'; clientId: string }
  | { kind: 'subject'; subject: string }
  /** Events may have been lost: nothing cached can be trusted past the old bound. */
  | { kind: 'all' };

/**
 * `connected`: a stream exists and its last poll answered, so revocations reach us; cached answers
 * may live until `exp`. `connecting` (no stream yet) and `fallback` (polls failing, stream lost):
 * every cache is back to its own max TTL, counted from when each entry was cached.
 */
export type EventsState = 'connecting' | 'connected' | 'fallback';

/** A cache that forgets what revocations name; returns how many entries it dropped. */
export type RevocationTarget = (revocation: Revocation) => number;

export type RevocationsOptions = {
  /** Epoch ms. Default `Date.now`. */
  now?: () => number;
  /** Bound on cached answers while `connected`. Default: none (they still end at `exp`). */
  maxTtlWithEventsSeconds?: number | undefined;
  /** Revoked JWT ids remembered until their `exp`. Default 100000. */
  revokedJtiMax?: number;
};

export interface Revocations {
  readonly state: EventsState;
  /** Epoch ms of the last state change. */
  readonly since: number;
  /** Bumped by every applied revocation: an answer fetched across one is not cached. */
  readonly generation: number;
  /** The stream that covers an answer asked for now (0: none); a cache stores it with the answer. */
  coverage(): number;
  /**
   * The age bound for an entry asked for under `coverage` whose cache's own bound is `fallbackMs`:
   * longer only while `connected` and only for answers asked for while the current stream existed (an
   * answer from before it may predate a revocation nobody will tell us about).
   */
  maxAgeMs(coverage: number, fallbackMs: number): number;
  isJtiRevoked(jti: string): boolean;
  /** A cache registers here to be told what to forget. */
  register(target: RevocationTarget): void;
  apply(revocation: Revocation): number;
  /**
   * Called by the receiver; `newStream` when a stream was just created: answers asked for from now on
   * are covered by it. Coverage is kept across `fallback` → `connected` (a stream queues while polls
   * fail) and ends with `connecting` (the stream is lost).
   */
  setState(state: EventsState, newStream?: boolean): void;
}

/**
 * The link between a revocation-event receiver and the verifiers' caches. Without one (events off),
 * the verifiers behave as they always did.
 *
 * @example
 * ```ts
 * const revocations = createRevocations({ maxTtlWithEventsSeconds: 3600 });
 * const verifier = createIntrospectionVerifier({ ...options, revocations });
 * const receiver = createSsfReceiver({ ...options, revocations });
 * ```
 */
export function createRevocations({ now = Date.now, maxTtlWithEventsSeconds, revokedJtiMax = 100_000 }: RevocationsOptions = {}): Revocations {
  const withEventsMs = maxTtlWithEventsSeconds === undefined ? Number.POSITIVE_INFINITY : maxTtlWithEventsSeconds * 1000;
  const targets: RevocationTarget[] = [];
  // jti → exp in epoch ms. Bounded: the oldest is forgotten first, and its token has the least life left.
  const revokedJtis = new LRUCache<string, number>({ max: revokedJtiMax });
  let state: EventsState = 'connecting';
  let since = now();
  // Numbers the streams; `covering` is 0 while no stream queues events for us.
  let streams = 0;
  let covering = 0;
  let generation = 0;

  return {
    get state() {
      return state;
    },
    get since() {
      return since;
    },
    get generation() {
      return generation;
    },
    coverage: () => covering,
    maxAgeMs(coverage, fallbackMs) {
      return state === 'connected' && coverage !== 0 && coverage === covering ? withEventsMs : fallbackMs;
    },
    isJtiRevoked(jti) {
      const exp = revokedJtis.get(jti);
      if (exp === undefined) return false;
      if (exp > now()) return true;
      revokedJtis.delete(jti);
      return false;
    },
    register(target) {
      targets.push(target);
    },
    apply(revocation) {
      generation += 1;
      if (revocation.kind === 'jwt' && revocation.exp * 1000 > now()) revokedJtis.set(revocation.jti, revocation.exp * 1000);
      let evicted = 0;
      for (const target of targets) evicted += target(revocation);
      return evicted;
    },
    setState(next, newStream = false) {
      if (newStream) covering = streams += 1;
      else if (next === 'connecting') covering = 0;
      if (next === state) return;
      state = next;
      since = now();
    },
  };
}

/** The usual {@link RevocationTarget} of a cache keyed on token digests. */
export function revocationTarget(cache: {
  evictKey(key: string): number;
  evictJti(jti: string): number;
  evictSession(subject: string, clientId: string): number;
  evictClient(clientId: string): number;
  evictSubject(subject: string): number;
  clear(): number;
}): RevocationTarget {
  return (revocation) => {
    switch (revocation.kind) {
      case 'token':
        return cache.evictKey(revocation.tokenHash);
      case 'jwt':
        return cache.evictJti(revocation.jti);
      case 'session':
        return cache.evictSession(revocation.subject, revocation.clientId);
      case 'client':
        return cache.evictClient(revocation.clientId);
      case 'subject':
        return cache.evictSubject(revocation.subject);
      case 'all':
        return cache.clear();
    }
  };
}
