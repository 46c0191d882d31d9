import { createHash, timingSafeEqual } from 'node:crypto';
import type { Context, Next } from 'koa';
import { LRUCache } from 'lru-cache';
import { HttpError } from '../errors.ts';

const digest = (value: string) => createHash('sha256').update(value).digest();

export type AdminAuthOptions = {
  /** Wrong tokens one address may present in a window before its wrong tokens are answered 429. */
  maxFailures?: number;
  windowMs?: number;
  /** Milliseconds since the epoch; injected by tests instead of sleeping. */
  now?: () => number;
  /** Who is guessing: the socket address unless a trusted proxy forwarded the request (clientAddress.ts). */
  clientAddress?: (ctx: Context) => string;
};

const socketAddress = (ctx: Context) => ctx.req.socket.remoteAddress ?? 'unknown';

/**
 * `Authorization: Bearer <admin token>`, compared in constant time (on digests, so the length of the
 * configured token does not leak either).
 *
 * Online guessing is bounded without handing anyone a lock-out of the token holder: the presented
 * token is checked first and a correct one always passes, whatever the counter says; only wrong
 * Bearer tokens count (a request without credentials — an `<img>` tag on a hostile page — is no
 * guess), per client address, and only wrong tokens over the bound are answered 429.
 */
export function requireAdminToken(adminToken: string, { maxFailures = 20, windowMs = 60_000, now = Date.now, clientAddress = socketAddress }: AdminAuthOptions = {}) {
  const expected = digest(adminToken);
  // Fixed windows on the injected clock; bounded so that many addresses cannot grow memory.
  const failures = new LRUCache<string, { count: number; since: number }>({ max: 10_000 });

  return async (ctx: Context, next: Next) => {
    const header = ctx.get('authorization');
    const match = /^Bearer ([\x21-\x7e]+)$/.exec(header);
    if (match && timingSafeEqual(digest(match[1]!), expected)) return next();
    if (!match) {
      // Nothing was guessed: not counted, and never 429.
      throw new HttpError(401, 'invalid_token', header ? 'the admin token is not valid' : 'an admin bearer token is required', {
        'WWW-Authenticate': header ? 'Bearer realm="idp-admin", error="invalid_token"' : 'Bearer realm="idp-admin"',
      });
    }
    const key = clientAddress(ctx);
    const at = now();
    let seen = failures.get(key);
    if (!seen || at - seen.since >= windowMs) {
      seen = { count: 0, since: at };
      failures.set(key, seen);
    }
    if (seen.count >= maxFailures) {
      throw new HttpError(429, 'too_many_requests', 'too many failed admin authentications; retry later', {
        'Retry-After': String(Math.ceil(windowMs / 1000)),
      });
    }
    seen.count += 1;
    throw new HttpError(401, 'invalid_token', 'the admin token is not valid', {
      'WWW-Authenticate': 'Bearer realm="idp-admin", error="invalid_token"',
    });
  };
}
