// The one way test code waits: `poll` for a condition, bounded in time, and `sleep` for a fixed
// real-time wait on another process. Logic that depends on time takes an injected clock instead.
// (Runtime code polls health with lib/http.ts waitForHealthy.)

/** Waits `ms` of real time. */
export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export type PollOptions = {
  /** Default 5000. */
  timeoutMs?: number;
  /** Between reads; 0 only yields to the event loop (for a server in this process). Default 25. */
  intervalMs?: number;
};

/**
 * Reads until `done` holds for the value read or `timeoutMs` has passed, and returns the last value
 * read: the caller asserts on it, so a timeout fails showing what was seen.
 */
export async function poll<T>(read: () => T | Promise<T>, done: (value: T) => boolean, { timeoutMs = 5000, intervalMs = 25 }: PollOptions = {}): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (done(value) || Date.now() >= deadline) return value;
    await (intervalMs === 0 ? new Promise((resolve) => setImmediate(resolve)) : sleep(intervalMs));
  }
}

/** {@link poll} until `predicate` holds; throws naming `what` when it does not within `timeoutMs`. */
export async function waitFor(predicate: () => boolean | Promise<boolean>, timeoutMs: number, what: string, { intervalMs }: Pick<PollOptions, 'intervalMs'> = {}): Promise<void> {
  if (!(await poll(predicate, Boolean, { timeoutMs, ...(intervalMs === undefined ? {} : { intervalMs }) }))) {
    throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
  }
}

/** {@link poll} until `read()` equals `expected`; returns the last value read, for the caller's assertion. */
export const eventually = <T>(read: () => T, expected: T, timeoutMs = 5000): Promise<T> => poll(read, (value) => value === expected, { timeoutMs, intervalMs: 50 });

/** Whether `promise` settles within `ms` (false once that bound passes); the timer never outlives the answer. */
export async function settlesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), ms)));
  try {
    return await Promise.race([promise.then(() => true), late]);
  } finally {
    clearTimeout(timer);
  }
}
