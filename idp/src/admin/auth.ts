import { createHash, timingSafeEqual } from 'node:crypto';
import type { Context, Next } from 'koa';
import { LRUCache } from 'lru-cache';
import { HttpError } from '../errors.ts';

const digest = (value: string) => createHash('sha256').update(value).digest();

/**
 * `Authorization: Bearer <admin token>`, compared in constant time (on digests, so the length of the
 * configured token does not leak either). Repeated failures from one address are answered 429 for a
 * minute: the admin token cannot be guessed online.
 */
export function requireAdminToken(adminToken: string, { maxFailures = 20, windowMs = 60_000 } = {}) {
  const expected = digest(adminToken);
  const failures = new LRUCache<string, { count: number }>({ max: 10_000, ttl: windowMs });
  const challenge = { 'WWW-Authenticate': 'Bearer realm="idp-admin"' };

  return async (ctx: Context, next: Next) => {
    const key = ctx.req.socket.remoteAddress ?? 'unknown'; // not ctx.ip: with proxy: true it is the client-chosen X-Forwarded-For
    const seen = failures.get(key);
    if (seen && seen.count >= maxFailures) {
      throw new HttpError(429, 'too_many_requests', 'too many failed admin authentications; retry later', {
        'Retry-After': String(Math.ceil(windowMs / 1000)),
      });
    }
    const header = ctx.get('authorization');
    const match = /^Bearer ([\x21-\x7e]+)$/.exec(header);
    if (!match || !timingSafeEqual(digest(match[1]!), expected)) {
      if (seen) seen.count += 1;
      else failures.set(key, { count: 1 });
      throw new HttpError(401, 'invalid_token', header ? 'the admin token is not valid' : 'an admin bearer token is required', {
        'WWW-Authenticate': header ? 'Bearer realm="idp-admin", error="invalid_token"' : challenge['WWW-Authenticate'],
      });
    }
    await next();
  };
}
