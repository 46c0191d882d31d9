import { LRUCache } from 'lru-cache';

/**
 * Failures per key in fixed windows on an injected clock (tests move the clock instead of sleeping).
 * At most `maxKeys` keys are kept, least recently used first out: many addresses or usernames cannot
 * grow memory, at the price that a flood can evict (and so forgive) an older key.
 */
export class FailureWindows {
  private readonly windows: LRUCache<string, { count: number; since: number }>;

  constructor(
    private readonly limit: number,
    private readonly windowMs: number,
    private readonly now: () => number = Date.now,
    maxKeys = 10_000,
  ) {
    this.windows = new LRUCache({ max: maxKeys });
  }

  private current(key: string) {
    const seen = this.windows.get(key);
    return seen && this.now() - seen.since < this.windowMs ? seen : undefined;
  }

  /** Seconds until `key` may try again; undefined while it is under the limit. */
  blockedFor(key: string): number | undefined {
    const seen = this.current(key);
    if (!seen || seen.count < this.limit) return undefined;
    return Math.max(1, Math.ceil((seen.since + this.windowMs - this.now()) / 1000));
  }

  fail(key: string): void {
    const seen = this.current(key);
    if (seen) seen.count += 1;
    else this.windows.set(key, { count: 1, since: this.now() });
  }

  forget(key: string): void {
    this.windows.delete(key);
  }
}
