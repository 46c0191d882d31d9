import { LRUCache } from 'lru-cache';

/** Who a cached answer is about: what revocation events name. All optional (a rejection names nobody). */
export type CacheTags = {
  subject?: string | undefined;
  clientId?: string | undefined;
  jti?: string | undefined;
  /**
   * The token came from a token exchange (it carries `act`): its client is the exchanging service, not
   * the one the user's session was with, so a session-revoked event of its subject evicts it whatever
   * client the event names (the IDP refuses it from then on; we only ask again).
   */
  delegated?: boolean | undefined;
};

type Entry<V> = CacheTags & {
  value: V;
  /** Epoch ms when the answer was obtained: every age bound is counted from here, checked on read. */
  cachedAt: number;
  /** Epoch ms past which the answer is never served (the token's `exp`, or a negative TTL). */
  expiresAtMs: number;
  /** An age bound of its own (negative answers), instead of the one `maxAgeMs` gives at read time. */
  fixedMaxAgeMs?: number | undefined;
  /** Which revocation-event stream covered the answer when it was asked for (0: none); see `maxAgeMs`. */
  coverage: number;
};

export type TokenCacheOptions = {
  max: number;
  now: () => number;
  /**
   * The age bound of an entry whose answer was asked for under `coverage`, asked at every read, so a
   * change (revocation events lost: back to 30 s) applies to every entry at once.
   */
  maxAgeMs: (coverage: number) => number;
  /** An entry pushed out by `max` before it expired. */
  onEvict?: () => void;
};

/**
 * The verifiers' cache of answers keyed on token digests (base64url SHA-256 of the token, the same
 * identifier Shared Signals token-revoked events carry), with secondary indexes by subject, client,
 * (subject, client) and JWT id, so a revocation event evicts what it names without a scan.
 */
export class TokenCache<V> {
  readonly #entries: LRUCache<string, Entry<V>>;
  readonly #bySubject = new Map<string, Set<string>>();
  readonly #byClient = new Map<string, Set<string>>();
  readonly #byJti = new Map<string, Set<string>>();
  readonly #now: () => number;
  readonly #maxAgeMs: (coverage: number) => number;

  constructor({ max, now, maxAgeMs, onEvict }: TokenCacheOptions) {
    this.#now = now;
    this.#maxAgeMs = maxAgeMs;
    // Expiry is ours (checked against `now` on read), not lru-cache's ttl, so an injected clock governs it.
    this.#entries = new LRUCache<string, Entry<V>>({
      max,
      dispose: (entry, key, reason) => {
        if (reason === 'evict') onEvict?.();
        this.#unindex(key, entry);
      },
    });
  }

  get(key: string): V | undefined {
    const entry = this.#entries.get(key);
    if (entry === undefined) return undefined;
    const at = this.#now();
    const maxAge = entry.fixedMaxAgeMs ?? this.#maxAgeMs(entry.coverage);
    if (at < entry.expiresAtMs && at - entry.cachedAt < maxAge) return entry.value;
    this.#entries.delete(key);
    return undefined;
  }

  set(
    key: string,
    value: V,
    { cachedAt, expiresAtMs, fixedMaxAgeMs, coverage = 0, ...tags }: CacheTags & { cachedAt: number; expiresAtMs: number; fixedMaxAgeMs?: number; coverage?: number },
  ): void {
    const at = this.#now();
    if (at >= expiresAtMs || at - cachedAt >= (fixedMaxAgeMs ?? this.#maxAgeMs(coverage))) return;
    this.#entries.set(key, { value, cachedAt, expiresAtMs, fixedMaxAgeMs, coverage, ...tags });
    // After set: lru-cache disposes (and unindexes) the entry it replaced first.
    if (tags.subject !== undefined) add(this.#bySubject, tags.subject, key);
    if (tags.clientId !== undefined) add(this.#byClient, tags.clientId, key);
    if (tags.jti !== undefined) add(this.#byJti, tags.jti, key);
  }

  /** Returns how many entries went. */
  evictKey(key: string): number {
    return this.#entries.delete(key) ? 1 : 0;
  }

  evictSubject(subject: string): number {
    return this.#evictAll(this.#bySubject.get(subject));
  }

  evictClient(clientId: string): number {
    return this.#evictAll(this.#byClient.get(clientId));
  }

  evictJti(jti: string): number {
    return this.#evictAll(this.#byJti.get(jti));
  }

  /** Entries of this subject through this client, and the subject's delegated (exchanged) tokens. */
  evictSession(subject: string, clientId: string): number {
    const bySubject = this.#bySubject.get(subject);
    if (bySubject === undefined) return 0;
    return this.#evictAll(new Set([...bySubject].filter((key) => {
      const entry = this.#entries.peek(key);
      return entry !== undefined && (entry.clientId === clientId || entry.delegated === true);
    })));
  }

  clear(): number {
    const size = this.#entries.size;
    this.#entries.clear();
    return size;
  }

  keys(): string[] {
    return [...this.#entries.keys()];
  }

  get size(): number {
    return this.#entries.size;
  }

  #evictAll(keys: Set<string> | undefined): number {
    if (keys === undefined) return 0;
    let evicted = 0;
    // Copied: each delete shrinks the set being walked.
    for (const key of [...keys]) evicted += this.#entries.delete(key) ? 1 : 0;
    return evicted;
  }

  #unindex(key: string, entry: Entry<V>): void {
    if (entry.subject !== undefined) remove(this.#bySubject, entry.subject, key);
    if (entry.clientId !== undefined) remove(this.#byClient, entry.clientId, key);
    if (entry.jti !== undefined) remove(this.#byJti, entry.jti, key);
  }
}

function add(index: Map<string, Set<string>>, name: string, key: string): void {
  let keys = index.get(name);
  if (keys === undefined) index.set(name, (keys = new Set()));
  keys.add(key);
}

function remove(index: Map<string, Set<string>>, name: string, key: string): void {
  const keys = index.get(name);
  if (keys === undefined) return;
  keys.delete(key);
  if (keys.size === 0) index.delete(name);
}
