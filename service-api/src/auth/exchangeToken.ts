import { hash } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import * as oidc from 'openid-client';
import { TemporarilyUnavailable } from './errors.ts';

export const TOKEN_EXCHANGE_GRANT = 'urn:ietf:params:oauth:grant-type:token-exchange';
export const ACCESS_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:access_token';

export type TokenExchangerOptions = {
  /** The IDP's token endpoint, e.g. `http://localhost:4000/oauth/token` (no discovery call is made). */
  tokenUrl: string | URL;
  /** The IDP's issuer identifier, e.g. `http://localhost:4000/oauth`. */
  issuer: string;
  /** This service's own confidential client at the IDP (HTTP Basic), the actor of exchanged tokens. */
  clientId: string;
  clientSecret: string;
  /** Per exchange request. Default 2000. */
  timeoutMs?: number;
  /** An exchanged token is reused until this many seconds before it expires. Default 5. */
  expiryMarginSeconds?: number;
  /** Default 10000. */
  cacheMaxEntries?: number;
  /** Sent as `Retry-After` when the IDP cannot answer. Default 5. */
  retryAfterSeconds?: number;
  /** Epoch milliseconds; tests freeze it. Default `Date.now`. */
  now?: () => number;
  /** Default: the global fetch. */
  fetch?: typeof fetch;
};

export type ExchangeRequest = {
  /** The user's access token this service received. */
  subjectToken: string;
  /** The resource identifier of the service to call, e.g. `http://localhost:4002`. */
  audience: string;
  /** Space-separated scopes for the new token; omitted: what the user granted for `audience`. */
  scope?: string;
};

export type ExchangedToken = Readonly<{ accessToken: string; scope: string | undefined; expiresAt: number }>;

/**
 * The IDP refused the exchange (RFC 6749 §5.2 error): asking again will not help. `idpError` is its
 * error code (`invalid_grant`, `invalid_scope`, `invalid_target`, `unauthorized_client`, …).
 */
export class TokenExchangeRefused extends Error {
  override readonly name = 'TokenExchangeRefused';
  readonly code = 'ERR_TOKEN_EXCHANGE_REFUSED';
  constructor(
    readonly idpError: string | undefined,
    readonly idpStatus: number,
  ) {
    super(`the IDP refused the token exchange: ${idpStatus}${idpError ? ` ${idpError}` : ''}`);
  }
}

export interface TokenExchanger {
  exchangeToken(request: ExchangeRequest): Promise<ExchangedToken>;
  readonly stats: Readonly<{ exchanges: number; cacheHits: number; coalesced: number }>;
}

// OAuth error codes are printable ASCII without `"` and `\` (RFC 6749 §5.2); anything else is not repeated.
const ERROR_CODE = /^[\x20-\x21\x23-\x5b\x5d-\x7e]{1,64}$/;

/**
 * RFC 8693 token exchange with openid-client: a user's token sent to this service becomes a token for
 * another service, for the same user, with this service recorded as the actor (`act`). The IDP decides
 * what is allowed (its policy: this service's own tokens only, targets listed on its client, scopes
 * the user granted, no longer than the original).
 *
 * - Results are cached per SHA-256(subject token) + audience + scope until `expiryMarginSeconds`
 *   before the new token expires (the cache holds digests as keys, never a subject token).
 * - Concurrent calls for the same key share one request to the IDP.
 * - The IDP refusing is a {@link TokenExchangeRefused} (not cached: the next call asks again); the IDP
 *   unreachable, timing out, answering 5xx or refusing our own client credentials is a
 *   `TemporarilyUnavailable` (503).
 *
 * @example
 * ```ts
 * const exchanger = createTokenExchanger({
 *   tokenUrl: 'http://localhost:4000/oauth/token',
 *   issuer: 'http://localhost:4000/oauth',
 *   clientId: 'service-introspector',
 *   clientSecret: process.env.INTROSPECTION_CLIENT_SECRET!,
 * });
 * app.get('/v1/orders', async (req, res) => {
 *   const { accessToken } = await exchanger.exchangeToken({ subjectToken: bearerTokenOf(req)!, audience: 'http://localhost:4002', scope: 'billing.read' });
 *   const bills = await fetch('http://localhost:4002/v1/bills', { headers: { authorization: `Bearer ${accessToken}` } });
 *   res.json(await bills.json());
 * });
 * ```
 */
export function createTokenExchanger(options: TokenExchangerOptions): TokenExchanger {
  const { issuer, clientId, clientSecret, timeoutMs = 2000, expiryMarginSeconds = 5, cacheMaxEntries = 10_000, retryAfterSeconds = 5, now = Date.now } = options;
  const tokenUrl = new URL(options.tokenUrl);
  // Built from metadata: the token endpoint is configured, so no discovery request at start-up.
  const config = new oidc.Configuration({ issuer, token_endpoint: tokenUrl.href }, clientId, undefined, oidc.ClientSecretBasic(clientSecret));
  config.timeout = Math.ceil(timeoutMs / 1000);
  if (options.fetch) config[oidc.customFetch] = options.fetch as never;
  if (tokenUrl.protocol === 'http:') oidc.allowInsecureRequests(config); // local development only

  const stats = { exchanges: 0, cacheHits: 0, coalesced: 0 };
  const cache = new LRUCache<string, { token: ExchangedToken; reuseUntilMs: number }>({ max: cacheMaxEntries });
  const inFlight = new Map<string, Promise<ExchangedToken>>();
  const unavailable = (reason: string, cause?: unknown) =>
    new TemporarilyUnavailable('the authorization server is unavailable', retryAfterSeconds, { cause: new Error(reason, cause === undefined ? undefined : { cause }) });

  async function exchange({ subjectToken, audience, scope }: ExchangeRequest): Promise<ExchangedToken> {
    stats.exchanges += 1;
    let response: oidc.TokenEndpointResponse;
    try {
      response = await oidc.genericGrantRequest(config, TOKEN_EXCHANGE_GRANT, {
        subject_token: subjectToken,
        subject_token_type: ACCESS_TOKEN_TYPE,
        requested_token_type: ACCESS_TOKEN_TYPE,
        audience,
        ...(scope ? { scope } : {}),
      });
    } catch (err) {
      if (err instanceof oidc.ResponseBodyError) {
        const code = typeof err.error === 'string' && ERROR_CODE.test(err.error) ? err.error : undefined;
        // Our own credentials refused, or the IDP failing: nothing the caller did wrong.
        if (code === 'invalid_client' || err.status >= 500 || err.status === 429) throw unavailable(`token exchange answered ${err.status} ${code ?? ''}`.trimEnd());
        throw new TokenExchangeRefused(code, err.status);
      }
      if (err instanceof oidc.ClientError && !['OAUTH_HTTP_REQUEST_FORBIDDEN', 'OAUTH_REQUEST_PROTOCOL_FORBIDDEN'].includes(err.code!)) {
        throw unavailable(`token exchange failed: ${err.code ?? err.message}`);
      }
      // fetch() rejects with a plain TypeError when the IDP cannot be reached, a DOMException on timeout.
      if ((err instanceof TypeError && !('code' in err)) || (err instanceof DOMException && (err.name === 'TimeoutError' || err.name === 'AbortError'))) {
        throw unavailable('token exchange request failed', err);
      }
      throw err;
    }
    const expiresIn = response.expires_in;
    if (typeof expiresIn !== 'number' || expiresIn <= 0) throw unavailable('token exchange response has no expires_in');
    return Object.freeze({ accessToken: response.access_token, scope: response.scope, expiresAt: Math.floor(now() / 1000) + expiresIn });
  }

  return {
    stats,
    async exchangeToken(request) {
      const key = `${hash('sha256', request.subjectToken, 'base64url')} ${request.audience} ${request.scope ?? ''}`;
      const cached = cache.get(key);
      if (cached !== undefined) {
        if (now() < cached.reuseUntilMs) {
          stats.cacheHits += 1;
          return cached.token;
        }
        cache.delete(key);
      }
      const pending = inFlight.get(key);
      if (pending !== undefined) {
        stats.coalesced += 1;
        return pending;
      }
      const result = exchange(request)
        .then((token) => {
          const reuseUntilMs = (token.expiresAt - expiryMarginSeconds) * 1000;
          if (reuseUntilMs > now()) cache.set(key, { token, reuseUntilMs });
          return token;
        })
        .finally(() => inFlight.delete(key));
      inFlight.set(key, result);
      return result;
    },
  };
}
