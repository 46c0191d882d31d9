/**
 * The store cannot be used as it is (damaged, unwritable, held by another process): start-up stops with
 * this message, which names the file or database and what to do, instead of a stack trace.
 */
export class StoreUnusableError extends Error {
  override name = 'StoreUnusableError';
}
