import { Env } from '../../lib/env.ts';

export type Config = Readonly<{
  port: number;
  host: string | undefined;
  /** The `realm` of every WWW-Authenticate challenge. */
  realm: string;
  introspection: Readonly<{
    url: string;
    clientId: string;
    clientSecret: string;
    issuer: string;
    timeoutMs: number;
    cacheMaxTtlSeconds: number;
    negativeTtlSeconds: number;
    cacheMaxEntries: number;
    retryAfterSeconds: number;
  }>;
}>;

/** Reads and validates the environment once; every failure is a TypeError naming the variable. */
export function loadConfig(env: Env = new Env()): Config {
  const issuer = env.string('IDP_ISSUER', 'http://localhost:4000/oauth');
  env.url('IDP_ISSUER', issuer); // validates; the raw string is kept because `iss` is compared exactly
  return Object.freeze({
    port: env.port('PORT', 4001),
    host: env.optional('HOST'),
    realm: 'service-api',
    introspection: Object.freeze({
      url: env.url('IDP_INTROSPECTION_URL', 'http://localhost:4000/oauth/introspect').href,
      clientId: env.string('INTROSPECTION_CLIENT_ID', 'service-introspector'),
      clientSecret: env.requiredSecret('INTROSPECTION_CLIENT_SECRET'),
      issuer,
      timeoutMs: env.integer('INTROSPECTION_TIMEOUT_MS', 2000, { min: 1, max: 60_000 }),
      cacheMaxTtlSeconds: env.integer('INTROSPECTION_CACHE_MAX_TTL', 30, { min: 0, max: 3600 }),
      negativeTtlSeconds: env.integer('INTROSPECTION_NEGATIVE_TTL', 5, { min: 0, max: 3600 }),
      cacheMaxEntries: env.integer('INTROSPECTION_CACHE_MAX_ENTRIES', 10_000, { min: 1, max: 10_000_000 }),
      retryAfterSeconds: 5,
    }),
  });
}
