import { createHash } from 'node:crypto';
import * as oidc from 'openid-client';
import { askIdp, IdpError } from './idpError.ts';

export { IdpError, IdpInvalidResponse, IdpRejected, IdpUnavailable } from './idpError.ts';

/** Refresh a cached token once less than this remains of its lifetime. */
const REFRESH_MARGIN_MS = 30_000;
/**
 * Lifetime assumed when the IDP omits `expires_in` (RFC 6749 only RECOMMENDS it). Deliberately short:
 * caching a token longer than it lives costs a failed downstream call, refreshing early costs one
 * token request a minute.
 */
const DEFAULT_LIFETIME_S = 60;
const DEFAULT_TIMEOUT_S = 5;

export interface ServiceTokenOptions {
  /** Issuer identifier, e.g. `http://localhost:4000/oauth`. */
  issuer: string;
  /** Token endpoint. When set, no discovery request is made; otherwise it is discovered from `issuer`. */
  tokenUrl?: string | undefined;
  clientId: string;
  /** Sent with HTTP Basic (`client_secret_basic`). */
  clientSecret: string;
  /** Default `scope` parameter, e.g. `service.api`. */
  scope: string;
  /** Default RFC 8707 `resource` parameter. */
  resource?: string | undefined;
  /** Timeout of each discovery/token request, in seconds. Default 5. */
  timeoutSeconds?: number;
  /** Clock in epoch milliseconds; tests freeze it. Default `Date.now`. */
  now?: () => number;
  /** Share one cache between several clients; entries never cross clients or parameter sets. */
  cache?: ServiceTokenCache;
}

/** Per-call overrides of the token request parameters. Each distinct set is cached separately. */
export interface TokenRequest {
  scope?: string;
  resource?: string;
}

export interface ServiceTokenClient {
  /** A cached access token, or a new one when less than 30 s of the cached one remain. */
  getToken(request?: TokenRequest): Promise<string>;
  /**
   * Forgets `token` (e.g. after a downstream 401) so the next `getToken()` asks the IDP. Without an
   * argument it forgets every token of this client. Forgetting a token already replaced is a no-op,
   * so many callers that saw the same 401 still cause just one new token request.
   */
  invalidate(token?: string): void;
  /** Counters for metrics and tests. */
  readonly stats: Readonly<ServiceTokenStats>;
}

export interface ServiceTokenStats {
  /** Token requests actually sent to the IDP (including failed ones). */
  tokenRequests: number;
  /** `getToken()` calls answered from the cache, without waiting for the IDP. */
  cacheHits: number;
  /** `getToken()` rounds that obtained no token (discovery or token request), by reason. */
  failures: Record<ServiceTokenFailure, number>;
}

/** Why a `getToken()` round obtained no token: the IDP's failure class (see idpError.ts). */
export type ServiceTokenFailure = 'unavailable' | 'rejected' | 'invalid_response';
const FAILURE_REASONS: Record<IdpError['code'], ServiceTokenFailure> = {
  ERR_IDP_UNAVAILABLE: 'unavailable',
  ERR_IDP_REJECTED: 'rejected',
  ERR_IDP_INVALID_RESPONSE: 'invalid_response',
};

interface CachedToken {
  readonly clientKey: string;
  readonly accessToken: string;
  readonly expiresAt: number;
  readonly refreshAt: number;
}

/** Only this module's clients reach a cache's maps (set by the class's static block). */
let internals: (cache: ServiceTokenCache) => { tokens: Map<string, CachedToken>; pending: Map<string, Promise<string>> };

/**
 * In-memory token store plus the single-flight table, shareable between clients. Keys hold every
 * request parameter and a digest of the client's credentials, so entries never cross clients or
 * parameter sets. Its maps are private to this module: only the clients that share it read or change
 * them.
 *
 * @example
 * ```ts
 * const cache = new ServiceTokenCache();
 * const reports = createServiceTokenClient({ ...common, clientId: 'reports', clientSecret: reportsSecret, cache });
 * const billing = createServiceTokenClient({ ...common, clientId: 'billing', clientSecret: billingSecret, cache });
 * ```
 */
export class ServiceTokenCache {
  readonly #tokens = new Map<string, CachedToken>();
  readonly #pending = new Map<string, Promise<string>>();

  static {
    internals = (cache) => ({ tokens: cache.#tokens, pending: cache.#pending });
  }
}

/**
 * Creates a client for the OAuth 2.0 client credentials grant (openid-client v6), with an in-memory
 * cache and single-flight refresh:
 *
 * - a token is reused until less than 30 s of its `expires_in` remain (60 s assumed if absent);
 * - concurrent callers while a token is being fetched share one token request;
 * - the cache key holds issuer, token URL, client id, a digest of the secret, scope and resource, so
 *   a token issued for one parameter set is never handed to a caller asking with another
 *   (cf. CVE-2025-26620 in Duende.AccessTokenManagement);
 * - failures are not cached: the next call asks again. If a refresh fails while the cached token
 *   has not yet expired, that token is returned instead;
 * - `allowInsecureRequests` only for `http:` URLs (local development).
 *
 * @example
 * ```ts
 * const tokens = createServiceTokenClient({
 *   issuer: 'http://localhost:4000/oauth',
 *   tokenUrl: 'http://localhost:4000/oauth/token', // optional: skips discovery
 *   clientId: 'solutrix-api',
 *   clientSecret: process.env.IDP_CLIENT_SECRET!,
 *   scope: 'service.api',
 * });
 *
 * let token = await tokens.getToken();
 * let res = await fetch('http://localhost:4001/v1/whoami', { headers: { authorization: `Bearer ${token}` } });
 * if (res.status === 401) {
 *   tokens.invalidate(token); // revoked or expired early: retry once with a fresh token
 *   token = await tokens.getToken();
 *   res = await fetch('http://localhost:4001/v1/whoami', { headers: { authorization: `Bearer ${token}` } });
 * }
 * ```
 */
export function createServiceTokenClient(options: ServiceTokenOptions): ServiceTokenClient {
  const now = options.now ?? Date.now;
  const { tokens, pending: inFlight } = internals(options.cache ?? new ServiceTokenCache());
  const timeout = options.timeoutSeconds ?? DEFAULT_TIMEOUT_S;
  const secretDigest = createHash('sha256').update(options.clientSecret).digest('base64url');
  const clientKey = JSON.stringify([options.issuer, options.tokenUrl ?? null, options.clientId, secretDigest]);
  const stats: ServiceTokenStats = { tokenRequests: 0, cacheHits: 0, failures: { unavailable: 0, rejected: 0, invalid_response: 0 } };
  // Bumped by invalidate(): a token request started before it must not refill the cache.
  let generation = 0;
  let configuration: Promise<oidc.Configuration> | undefined;

  function getConfiguration(): Promise<oidc.Configuration> {
    configuration ??= askIdp('discovery', () => buildConfiguration(options, timeout)).catch((err: unknown) => {
      configuration = undefined; // a failed discovery is retried on the next call
      throw err;
    });
    return configuration;
  }

  async function requestToken(key: string, scope: string, resource: string | undefined): Promise<string> {
    const startedGeneration = generation;
    const config = await getConfiguration();
    const parameters: Record<string, string> = {};
    if (scope !== '') parameters.scope = scope;
    if (resource !== undefined) parameters.resource = resource;
    // The lifetime counts from the request, not the response: never trust a token longer than it lives.
    const requestedAt = now();
    stats.tokenRequests += 1;
    const response = await askIdp('token request', () => oidc.clientCredentialsGrant(config, parameters));
    const lifetimeMs = (response.expires_in ?? DEFAULT_LIFETIME_S) * 1000;
    const expiresAt = requestedAt + lifetimeMs;
    if (generation === startedGeneration) {
      tokens.set(key, {
        clientKey,
        accessToken: response.access_token,
        expiresAt,
        // Short-lived tokens are still reused for half their lifetime instead of never.
        refreshAt: expiresAt - Math.min(REFRESH_MARGIN_MS, lifetimeMs / 2),
      });
    }
    return response.access_token;
  }

  return {
    stats,

    getToken(request: TokenRequest = {}): Promise<string> {
      const scope = request.scope ?? options.scope;
      const resource = request.resource ?? options.resource;
      const key = JSON.stringify([clientKey, scope, resource ?? null]);
      const cached = tokens.get(key);
      const t = now();
      if (cached !== undefined && t < cached.refreshAt) {
        stats.cacheHits += 1;
        return Promise.resolve(cached.accessToken);
      }

      // Registered synchronously, before any await, so every concurrent caller finds it.
      let pending = inFlight.get(key);
      if (pending === undefined) {
        pending = requestToken(key, scope, resource)
          .catch((err: unknown) => {
            if (err instanceof IdpError) stats.failures[FAILURE_REASONS[err.code]] += 1;
            throw err;
          })
          .finally(() => inFlight.delete(key));
        inFlight.set(key, pending);
      }
      if (cached === undefined || t >= cached.expiresAt) return pending;
      return pending.catch((err: unknown) => {
        if (tokens.get(key) === cached && now() < cached.expiresAt) return cached.accessToken;
        throw err;
      });
    },

    invalidate(token?: string): void {
      if (token === undefined) generation += 1;
      for (const [key, entry] of tokens) {
        if (entry.clientKey === clientKey && (token === undefined || entry.accessToken === token)) tokens.delete(key);
      }
    },
  };
}

async function buildConfiguration(options: ServiceTokenOptions, timeout: number): Promise<oidc.Configuration> {
  const auth = oidc.ClientSecretBasic(options.clientSecret);
  if (options.tokenUrl !== undefined) {
    const config = new oidc.Configuration(
      { issuer: options.issuer, token_endpoint: options.tokenUrl },
      options.clientId,
      undefined,
      auth,
    );
    config.timeout = timeout;
    if (new URL(options.tokenUrl).protocol === 'http:') oidc.allowInsecureRequests(config);
    return config;
  }
  const insecure = new URL(options.issuer).protocol === 'http:';
  return oidc.discovery(new URL(options.issuer), options.clientId, undefined, auth, {
    timeout,
    execute: insecure ? [oidc.allowInsecureRequests] : [],
  });
}
