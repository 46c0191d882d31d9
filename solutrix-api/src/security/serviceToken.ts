import { createHash } from 'node:crypto';
import * as oidc from 'openid-client';
import { getConfig } from '../config.ts';

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

interface CachedToken {
  readonly clientKey: string;
  readonly accessToken: string;
  readonly expiresAt: number;
  readonly refreshAt: number;
}

/** In-memory token store plus the single-flight table. Keys include every request parameter. */
export class ServiceTokenCache {
  readonly tokens = new Map<string, CachedToken>();
  readonly pending = new Map<string, Promise<string>>();
}

export type ServiceTokenFailure =
  /** IDP unreachable, timed out or answered 5xx: worth retrying later. */
  | 'unavailable'
  /** IDP refused the request (e.g. `invalid_client`, `invalid_scope`): a configuration problem. */
  | 'rejected'
  /** IDP answered something that is not a usable token response, or the client is misconfigured. */
  | 'invalid_response';

/**
 * Why no token could be obtained. The message is safe to log: it never holds a token or a secret
 * (the openid-client error it replaces may carry the whole token response as its `cause`).
 */
export class ServiceTokenError extends Error {
  override readonly name = 'ServiceTokenError';
  constructor(
    readonly reason: ServiceTokenFailure,
    message: string,
    readonly idpStatus?: number,
    readonly idpError?: string,
    /** From the IDP's `Retry-After` (delta-seconds), when it sent one. */
    readonly retryAfterSeconds?: number,
  ) {
    super(message);
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
  const cache = options.cache ?? new ServiceTokenCache();
  const timeout = options.timeoutSeconds ?? DEFAULT_TIMEOUT_S;
  const secretDigest = createHash('sha256').update(options.clientSecret).digest('base64url');
  const clientKey = JSON.stringify([options.issuer, options.tokenUrl ?? null, options.clientId, secretDigest]);
  const stats: ServiceTokenStats = { tokenRequests: 0, cacheHits: 0, failures: { unavailable: 0, rejected: 0, invalid_response: 0 } };
  // Bumped by invalidate(): a token request started before it must not refill the cache.
  let generation = 0;
  let configuration: Promise<oidc.Configuration> | undefined;

  function getConfiguration(): Promise<oidc.Configuration> {
    configuration ??= buildConfiguration(options, timeout).catch((err: unknown) => {
      configuration = undefined; // a failed discovery is retried on the next call
      throw toServiceTokenError(err, 'discovery');
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
    let response: oidc.TokenEndpointResponse;
    try {
      response = await oidc.clientCredentialsGrant(config, parameters);
    } catch (err) {
      throw toServiceTokenError(err, 'token request');
    }
    const lifetimeMs = (response.expires_in ?? DEFAULT_LIFETIME_S) * 1000;
    const expiresAt = requestedAt + lifetimeMs;
    if (generation === startedGeneration) {
      cache.tokens.set(key, {
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
      const cached = cache.tokens.get(key);
      const t = now();
      if (cached !== undefined && t < cached.refreshAt) {
        stats.cacheHits += 1;
        return Promise.resolve(cached.accessToken);
      }

      // Registered synchronously, before any await, so every concurrent caller finds it.
      let pending = cache.pending.get(key);
      if (pending === undefined) {
        pending = requestToken(key, scope, resource)
          .catch((err: unknown) => {
            if (err instanceof ServiceTokenError) stats.failures[err.reason] += 1;
            throw err;
          })
          .finally(() => cache.pending.delete(key));
        cache.pending.set(key, pending);
      }
      if (cached === undefined || t >= cached.expiresAt) return pending;
      return pending.catch((err: unknown) => {
        if (cache.tokens.get(key) === cached && now() < cached.expiresAt) return cached.accessToken;
        throw err;
      });
    },

    invalidate(token?: string): void {
      if (token === undefined) generation += 1;
      for (const [key, entry] of cache.tokens) {
        if (entry.clientKey === clientKey && (token === undefined || entry.accessToken === token)) {
          cache.tokens.delete(key);
        }
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

/** Replaces any error of openid-client/fetch with a ServiceTokenError that carries no response body. */
function toServiceTokenError(err: unknown, step: 'discovery' | 'token request'): ServiceTokenError {
  if (err instanceof ServiceTokenError) return err;
  if (err instanceof oidc.ResponseBodyError) {
    const reason = err.status >= 500 ? 'unavailable' : 'rejected';
    return new ServiceTokenError(
      reason,
      `IDP ${step} failed: ${err.status} ${err.error}`,
      err.status,
      err.error,
      retryAfter(err.response),
    );
  }
  if (err instanceof oidc.ClientError) {
    if (err.code === 'OAUTH_TIMEOUT') {
      return new ServiceTokenError('unavailable', `IDP ${step} timed out`);
    }
    if (err.cause instanceof Response) {
      const status = err.cause.status;
      const reason = status >= 500 ? 'unavailable' : 'rejected';
      return new ServiceTokenError(reason, `IDP ${step} failed: ${status}`, status, undefined, retryAfter(err.cause));
    }
    return new ServiceTokenError('invalid_response', `IDP ${step} failed: ${err.message}`);
  }
  // fetch() rejects with a plain TypeError ("fetch failed") when the IDP cannot be reached;
  // argument errors of openid-client are TypeErrors too, but they carry an ERR_* code.
  if (err instanceof TypeError && !('code' in err)) {
    const code = (err.cause as { code?: unknown } | undefined)?.code;
    return new ServiceTokenError('unavailable', `IDP ${step} failed: cannot reach the IDP${typeof code === 'string' ? ` (${code})` : ''}`);
  }
  return new ServiceTokenError('invalid_response', `IDP ${step} failed: ${err instanceof Error ? err.name : 'unknown error'}`);
}

function retryAfter(response: Response): number | undefined {
  const value = response.headers.get('retry-after');
  return value !== null && /^\d{1,9}$/.test(value) ? Number(value) : undefined;
}

let processClient: ServiceTokenClient | undefined;

/** The process-wide client, configured from the environment (see config.ts) on first use. */
export function sharedServiceTokenClient(): ServiceTokenClient {
  return (processClient ??= createServiceTokenClient(getConfig().serviceToken));
}

/**
 * Solutrix-API's own access token for the Service APIs (`IDP_CLIENT_ID`, scope `SERVICE_TOKEN_SCOPE`),
 * cached process-wide.
 *
 * @example
 * ```ts
 * const token = await getServiceToken();
 * await fetch(`${serviceApiUrl}/v1/reports`, { headers: { authorization: `Bearer ${token}` } });
 * ```
 */
export function getServiceToken(): Promise<string> {
  return sharedServiceTokenClient().getToken();
}
