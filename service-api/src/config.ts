import { Env, type LogLevel } from '../../lib/env.ts';
import { parseMetricsAllow, type MetricsAccess } from '../../lib/metrics.ts';

/**
 * How bearer tokens are checked. `auto` (default): JWT-shaped tokens locally against the IDP's JWKS,
 * everything else by introspection. `jwt`: only JWTs (no introspection client needed).
 * `introspection`: everything at the IDP (JWTs are then refused by oidc-provider → 401).
 */
export type TokenVerification = 'introspection' | 'jwt' | 'auto';

export type Config = Readonly<{
  port: number;
  host: string | undefined;
  logLevel: LogLevel;
  /** The `realm` of every WWW-Authenticate challenge. */
  realm: string;
  tokenVerification: TokenVerification;
  /** Who may read GET /metrics besides loopback (`METRICS_ALLOW`: IPs and CIDR blocks). */
  metricsAllow: MetricsAccess;
  /** Absent in `jwt` mode. */
  introspection:
    | Readonly<{
        url: string;
        clientId: string;
        clientSecret: string;
        issuer: string;
        timeoutMs: number;
        cacheMaxTtlSeconds: number;
        negativeTtlSeconds: number;
        cacheMaxEntries: number;
        retryAfterSeconds: number;
        audience: string;
        acceptTokensWithoutAudience: boolean;
      }>
    | undefined;
  /**
   * Revocation events (Shared Signals, `REVOCATION_EVENTS=ssf`): the IDP tells us what was revoked,
   * so cached answers may live until `exp`. Absent when `off`.
   */
  revocationEvents:
    | Readonly<{
        configurationUrl: string;
        /** Explicit token endpoint (back channel); absent: discovered from the issuer. */
        tokenUrl: string | undefined;
        clientId: string;
        clientSecret: string;
        issuer: string;
        /** Bound on cached answers while the stream is healthy; undefined: none below `exp`. */
        maxTtlWithEventsSeconds: number | undefined;
      }>
    | undefined;
  /** Absent in `introspection` mode. */
  jwt:
    | Readonly<{
        jwksUrl: string;
        issuer: string;
        audience: string;
        cooldownSeconds: number;
        cacheMaxAgeSeconds: number;
        principalCacheSeconds: number;
        timeoutMs: number;
        retryAfterSeconds: number;
        acceptTokensWithoutAudience: boolean;
      }>
    | undefined;
  /**
   * `GET /v1/chain`: the Service API it calls for the user (DOWNSTREAM_SERVICE_URL) with a token from
   * RFC 8693 token exchange. Absent when DOWNSTREAM_SERVICE_URL is unset (the route is then 404).
   */
  downstream:
    | Readonly<{
        url: string;
        /** Its resource identifier (the exchanged token's audience). */
        audience: string;
        /** Scopes asked for the exchanged token; undefined: what the user granted for it. */
        scope: string | undefined;
        timeoutMs: number;
        exchange: Readonly<{ tokenUrl: string; issuer: string; clientId: string; clientSecret: string; timeoutMs: number }>;
      }>
    | undefined;
}>;

/** Reads and validates the environment once into a frozen object; every failure is a ConfigError naming the variable. */
export function loadConfig(source: NodeJS.ProcessEnv = process.env): Config {
  const env = new Env(source);
  const issuer = env.string('IDP_ISSUER', 'http://localhost:4000/oauth');
  env.url('IDP_ISSUER', issuer); // validates; the raw string is kept because `iss` is compared exactly
  const tokenVerification = env.oneOf('TOKEN_VERIFICATION', ['auto', 'jwt', 'introspection'] as const, 'auto');
  // This service's resource identifier (RFC 8707): a token whose `aud` does not include it is refused,
  // in both modes. Compared verbatim, so the raw string is kept once validated.
  const audience = env.string('SERVICE_API_AUDIENCE', 'http://localhost:4001');
  env.url('SERVICE_API_AUDIENCE', audience);
  // Migration only: tokens issued before the IDP put `aud` on every token.
  const acceptTokensWithoutAudience = env.oneOf('ACCEPT_TOKENS_WITHOUT_AUDIENCE', ['true', 'false'] as const, 'false') === 'true';
  // Off unless asked for: a Service API copied elsewhere, or started by a test against an IDP without
  // Shared Signals, keeps the plain 30 s bound; `npm start` and compose turn it on.
  const revocationEventsMode = env.oneOf('REVOCATION_EVENTS', ['off', 'ssf'] as const, 'off');
  const issuerUrl = new URL(issuer);
  const issuerPath = issuerUrl.pathname.replace(/\/+$/, '');
  const revocationEvents =
    revocationEventsMode === 'off'
      ? undefined
      : Object.freeze({
          // RFC 8414 style: the issuer's path goes after the well-known name.
          configurationUrl: env.url('IDP_SSF_CONFIGURATION_URL', `${issuerUrl.origin}/.well-known/ssf-configuration${issuerPath}`).href,
          tokenUrl: env.optional('IDP_TOKEN_URL') === undefined ? undefined : env.url('IDP_TOKEN_URL').href,
          clientId: env.string('INTROSPECTION_CLIENT_ID', 'service-introspector'),
          clientSecret: env.requiredSecret('INTROSPECTION_CLIENT_SECRET'),
          issuer,
          maxTtlWithEventsSeconds:
            env.optional('INTROSPECTION_CACHE_MAX_TTL_WITH_EVENTS') === undefined
              ? undefined
              : env.integer('INTROSPECTION_CACHE_MAX_TTL_WITH_EVENTS', 0, { min: 0, max: 31_536_000 }),
        });
  const introspection =
    tokenVerification === 'jwt'
      ? undefined
      : Object.freeze({
          url: env.url('IDP_INTROSPECTION_URL', 'http://localhost:4000/oauth/introspect').href,
          clientId: env.string('INTROSPECTION_CLIENT_ID', 'service-introspector'),
          clientSecret: env.requiredSecret('INTROSPECTION_CLIENT_SECRET'),
          issuer,
          timeoutMs: env.integer('INTROSPECTION_TIMEOUT_MS', 2000, { min: 1, max: 60_000 }),
          cacheMaxTtlSeconds: env.integer('INTROSPECTION_CACHE_MAX_TTL', 30, { min: 0, max: 3600 }),
          negativeTtlSeconds: env.integer('INTROSPECTION_NEGATIVE_TTL', 5, { min: 0, max: 3600 }),
          cacheMaxEntries: env.integer('INTROSPECTION_CACHE_MAX_ENTRIES', 10_000, { min: 1, max: 10_000_000 }),
          retryAfterSeconds: 5,
          audience,
          acceptTokensWithoutAudience,
        });
  const jwt =
    tokenVerification === 'introspection'
      ? undefined
      : Object.freeze({
          jwksUrl: env.url('IDP_JWKS_URL', `${issuer.replace(/\/+$/, '')}/jwks.json`).href,
          issuer,
          audience,
          cooldownSeconds: env.integer('JWKS_COOLDOWN', 30, { min: 0, max: 3600 }),
          cacheMaxAgeSeconds: env.integer('JWKS_CACHE_MAX_AGE', 600, { min: 0, max: 86_400 }),
          // How long a verified JWT's principal is reused without another signature check.
          principalCacheSeconds: env.integer('JWT_CACHE_MAX_TTL', 30, { min: 0, max: 3600 }),
          timeoutMs: env.integer('JWKS_TIMEOUT_MS', 2000, { min: 1, max: 60_000 }),
          retryAfterSeconds: 5,
          acceptTokensWithoutAudience,
        });
  const downstreamUrl = env.optional('DOWNSTREAM_SERVICE_URL');
  const downstream =
    downstreamUrl === undefined
      ? undefined
      : Object.freeze({
          url: env.url('DOWNSTREAM_SERVICE_URL').href.replace(/\/+$/, ''),
          audience: env.string('DOWNSTREAM_SERVICE_AUDIENCE', env.url('DOWNSTREAM_SERVICE_URL').origin),
          scope: env.optional('DOWNSTREAM_SCOPE'),
          timeoutMs: env.integer('DOWNSTREAM_TIMEOUT_MS', 2000, { min: 1, max: 60_000 }),
          // This service exchanges as its introspection client unless told otherwise: the IDP ties a
          // client to its resource server through `introspects`, so that client is this service.
          exchange: Object.freeze({
            tokenUrl: env.url('IDP_TOKEN_URL', `${issuer.replace(/\/+$/, '')}/token`).href,
            issuer,
            clientId: env.string('TOKEN_EXCHANGE_CLIENT_ID', env.string('INTROSPECTION_CLIENT_ID', 'service-introspector')),
            clientSecret: env.secret('TOKEN_EXCHANGE_CLIENT_SECRET') ?? env.requiredSecret('INTROSPECTION_CLIENT_SECRET'),
            timeoutMs: env.integer('TOKEN_EXCHANGE_TIMEOUT_MS', 2000, { min: 1, max: 60_000 }),
          }),
        });
  if (downstream) env.url('DOWNSTREAM_SERVICE_AUDIENCE', downstream.audience);
  return Object.freeze({
    port: env.port('PORT', 4001),
    host: env.optional('HOST'),
    logLevel: env.logLevel(),
    realm: 'service-api',
    tokenVerification,
    metricsAllow: parseMetricsAllow(env.optional('METRICS_ALLOW')),
    introspection,
    revocationEvents,
    jwt,
    downstream,
  });
}
