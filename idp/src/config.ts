import { resolve } from 'node:path';
import { ConfigError, Env, type LogLevel } from '../../lib/env.ts';
import { parseMetricsAllow, type MetricsAccess } from '../../lib/metrics.ts';
import { parseProxyRange, type ProxyRange } from './clientAddress.ts';

export type IdpConfig = Readonly<{
  port: number;
  host: string | undefined;
  logLevel: LogLevel;
  /** The one issuer every token carries; also the public origin the IDP answers with. */
  issuer: string;
  dataDir: string;
  /**
   * `postgres://...`: the store shared by every replica (clients, tokens, sessions, accounts, signing
   * and cookie keys). Unset: one SQLite file in the data dir.
   */
  databaseUrl: string | undefined;
  /** Connections each replica keeps to PostgreSQL. */
  databasePoolSize: number;
  /** Admin API bearer token; generated into the data dir when unset (required with PostgreSQL). */
  adminToken: string | undefined;
  /**
   * Deprecated (IDP_INTROSPECTORS): client ids that may introspect every client's tokens. A client's
   * `introspects` metadata replaces it: an introspector reads only its resource servers' tokens.
   */
  introspectors: readonly string[];
  /** Clients whose users are not asked for consent (our own web app). */
  firstPartyClients: readonly string[];
  /**
   * The format of a resource server that names none (the seed's Service API, unless the seed file says
   * otherwise). `opaque` (default): random strings, checked by introspection. `jwt`: RFC 9068 at+jwt.
   */
  accessTokenFormat: 'opaque' | 'jwt';
  /**
   * The stack's own Service API's resource identifier (RFC 8707): the resource a token request gets
   * when it names none and asks for no resource server's scope, if a resource server is declared for it.
   */
  serviceApiAudience: string;
  accessTokenTtl: number;
  clientCredentialsTtl: number;
  refreshTokenTtl: number;
  /** Who may read GET /metrics besides loopback (`METRICS_ALLOW`: IPs and CIDR blocks). */
  metricsAllow: MetricsAccess;
  /**
   * Reverse proxies whose X-Forwarded-For is believed (IPs or CIDR ranges); empty by default, so every
   * limiter keys on the socket address and no caller can choose its own.
   */
  trustedProxies: readonly ProxyRange[];
  /** Shared Signals transmitter (idp/src/ssf/). */
  ssf: Readonly<{
    /** How long a poll with `returnImmediately: false` waits for an event (SSF_LONG_POLL_SECONDS). */
    longPollSeconds: number;
    /** A stream's `inactivity_timeout`: unpolled that long, it is purged (SSF_STREAM_INACTIVITY_TIMEOUT). */
    streamInactivityTimeout: number;
    /** Streams one receiver client may have at once (SSF_MAX_STREAMS_PER_CLIENT): creation floods stop there. */
    maxStreamsPerClient: number;
    /** A stream's `min_verification_interval`: verification requests closer together are 429 (SSF_MIN_VERIFICATION_INTERVAL). */
    minVerificationInterval: number;
  }>;
}>;

/** Reads and validates the environment once into a frozen object; every failure is a ConfigError naming the variable. */
export function loadConfig(source: NodeJS.ProcessEnv = process.env): IdpConfig {
  const env = new Env(source);
  const port = env.port('PORT', 4000);
  const issuer = env.url('IDP_ISSUER', `http://localhost:${port}/oauth`).href.replace(/\/$/, '');
  if (new URL(issuer).search || new URL(issuer).hash) throw new ConfigError('IDP_ISSUER', 'IDP_ISSUER must not have a query or fragment');
  const databaseUrl = env.secret('IDP_DATABASE_URL');
  if (databaseUrl !== undefined && !/^postgres(ql)?:\/\//.test(databaseUrl)) {
    throw new ConfigError('IDP_DATABASE_URL', 'IDP_DATABASE_URL must be a postgres:// (or postgresql://) URL; leave it unset for SQLite');
  }
  const adminToken = env.bearerSecret('IDP_ADMIN_TOKEN');
  if (databaseUrl !== undefined && adminToken === undefined) {
    // A generated token would live in one replica's data dir: every replica must accept the same one.
    throw new ConfigError('IDP_ADMIN_TOKEN', 'IDP_ADMIN_TOKEN or IDP_ADMIN_TOKEN_FILE must be set when IDP_DATABASE_URL is set (replicas share one admin token)');
  }
  const trustedProxies = Object.freeze(
    env.list('IDP_TRUSTED_PROXIES', '').map((entry) => {
      const range = parseProxyRange(entry);
      if (!range) throw new ConfigError('IDP_TRUSTED_PROXIES', `IDP_TRUSTED_PROXIES must be comma-separated IP addresses or CIDR ranges (10.0.0.0/8, fd00::/8), got "${entry}"`);
      return range;
    }),
  );
  return Object.freeze({
    port,
    host: env.optional('HOST'),
    logLevel: env.logLevel(),
    issuer,
    dataDir: resolve(env.string('IDP_DATA_DIR', './.data/idp')),
    databaseUrl,
    databasePoolSize: env.integer('IDP_DATABASE_POOL_SIZE', 10, { min: 1, max: 1000 }),
    adminToken,
    introspectors: env.list('IDP_INTROSPECTORS', ''),
    firstPartyClients: env.list('IDP_FIRST_PARTY_CLIENTS', 'solutrix-web'),
    accessTokenFormat: env.oneOf('ACCESS_TOKEN_FORMAT', ['opaque', 'jwt'] as const, 'opaque'),
    serviceApiAudience: env.url('SERVICE_API_AUDIENCE', 'http://localhost:4001').href.replace(/\/$/, ''),
    // Seconds, bounded so that a typo cannot issue tokens for years: a week, a year for refresh tokens.
    accessTokenTtl: env.integer('ACCESS_TOKEN_TTL', 3600, { min: 1, max: 7 * 24 * 3600 }),
    clientCredentialsTtl: env.integer('CLIENT_CREDENTIALS_TTL', 600, { min: 1, max: 7 * 24 * 3600 }),
    refreshTokenTtl: env.integer('REFRESH_TOKEN_TTL', 14 * 24 * 3600, { min: 1, max: 365 * 24 * 3600 }),
    metricsAllow: parseMetricsAllow(env.optional('METRICS_ALLOW')),
    trustedProxies,
    ssf: Object.freeze({
      // Under the 60 s idle timeouts common in proxies, so a waiting poll is not cut off as idle.
      longPollSeconds: env.integer('SSF_LONG_POLL_SECONDS', 25, { min: 1, max: 55 }),
      streamInactivityTimeout: env.integer('SSF_STREAM_INACTIVITY_TIMEOUT', 7 * 24 * 3600, { min: 60, max: 365 * 24 * 3600 }),
      maxStreamsPerClient: env.integer('SSF_MAX_STREAMS_PER_CLIENT', 100, { min: 1, max: 10_000 }),
      minVerificationInterval: env.integer('SSF_MIN_VERIFICATION_INTERVAL', 5, { min: 0, max: 3600 }),
    }),
  });
}
