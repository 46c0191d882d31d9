import { hash } from 'node:crypto';
import { InvalidToken, TemporarilyUnavailable, type UnavailableCode } from './errors.ts';
import { principalFromClaims, type Principal, type TokenVerifier } from './principal.ts';
import { revocationTarget, type Revocations } from './revocations.ts';
import { TokenCache } from './tokenCache.ts';
import { assertTokenShape } from './tokenShape.ts';

export type IntrospectionVerifierOptions = {
  /** The RFC 7662 endpoint, e.g. `http://localhost:4000/oauth/introspect`. */
  url: string | URL;
  /** Our own confidential client, authenticated with HTTP Basic (RFC 6749 §2.3.1). */
  clientId: string;
  clientSecret: string;
  /** Required value of `iss` in every active response. */
  issuer: string;
  /**
   * This resource server's identifier (RFC 8707), e.g. `http://localhost:4001`: the response's `aud`
   * (a string or an array) must include it, so a token meant for another service is refused.
   */
  audience: string;
  /** Accept a token whose response has no `aud` at all. For a migration only. Default false. */
  acceptTokensWithoutAudience?: boolean;
  /** Per introspection call, response body included. Default 2000. */
  timeoutMs?: number;
  /** Upper bound on how long an active result is reused (it is never reused past `exp`). Default 30. */
  cacheMaxTtlSeconds?: number;
  /** How long an inactive result is reused. Default 5. */
  negativeTtlSeconds?: number;
  /** Default 10000. */
  cacheMaxEntries?: number;
  /** Sent as `Retry-After` when the IDP cannot answer. Default 5. */
  retryAfterSeconds?: number;
  /** Epoch milliseconds; tests freeze it. Default `Date.now`. */
  now?: () => number;
  /** Default: the global fetch. */
  fetch?: typeof fetch;
  /**
   * Called when {@link IntrospectionVerifier.credentials} changes, e.g. to log a rejection of our client
   * credentials once as the configuration error it is, instead of once per failed request.
   */
  onCredentialsChange?: (state: 'accepted' | 'rejected') => void;
  /**
   * Revocation events (Shared Signals, see ssfReceiver.ts): cached answers are evicted as events name
   * them, and while the event stream is healthy active ones live until `exp` instead of
   * `cacheMaxTtlSeconds`. Default: none, every answer is bounded by `cacheMaxTtlSeconds`.
   */
  revocations?: Revocations;
};

/** Counters for tests and benchmarks. */
export type IntrospectionStats = {
  /** Calls made to the introspection endpoint. */
  introspections: number;
  /** Answers served from the cache (active or inactive results). */
  cacheHits: number;
  /** Callers that joined an introspection already in flight for the same token. */
  coalesced: number;
  /** Introspections that ended in `TemporarilyUnavailable`. */
  failures: number;
  /** Cached results pushed out by `cacheMaxEntries` before they expired. */
  evictions: number;
};

/** What the IDP last said about our client credentials; `unknown` until it first answered. */
export type CredentialsState = 'unknown' | 'accepted' | 'rejected';

export interface IntrospectionVerifier extends TokenVerifier {
  readonly stats: Readonly<IntrospectionStats>;
  /**
   * `rejected` once the IDP refused our client credentials (401 or `invalid_client`): every token then
   * gets a 503, so report it as misconfiguration (`/healthz`), not as an outage. `accepted` again after
   * the next answer that authenticated us.
   */
  readonly credentials: CredentialsState;
  /** Keys currently cached: SHA-256 digests (base64url) of tokens, never tokens. For diagnostics and tests. */
  cacheKeys(): string[];
}

type Outcome = { principal: Principal } | { rejection: string };

/**
 * The Authorization header of our own confidential client at the IDP (client_secret_basic). RFC 6749
 * §2.3.1 wants id and secret form-encoded before Basic; percent-encoding (%20, never '+') decodes
 * identically under both form and URI decoding.
 */
export const clientSecretBasic = (clientId: string, clientSecret: string): string =>
  `Basic ${Buffer.from(`${encodeURIComponent(clientId)}:${encodeURIComponent(clientSecret)}`).toString('base64')}`;

/**
 * A {@link TokenVerifier} that asks the IDP (RFC 7662 token introspection) and caches the answer.
 *
 * - Active results are reused until `min(exp, now + cacheMaxTtlSeconds)`; inactive ones for
 *   `negativeTtlSeconds`. Cache keys are SHA-256 digests, so a heap dump holds no tokens.
 * - Concurrent calls with the same uncached token share one introspection request.
 * - An IDP failure rejects with `TemporarilyUnavailable` (503) and is not cached; results cached
 *   before the outage keep working until they expire. If the IDP refuses our own client credentials,
 *   that error's `code` is `ERR_CLIENT_CREDENTIALS_REJECTED` and `credentials` turns `rejected`
 *   (`onCredentialsChange` is told once): a configuration error to report, not an outage.
 * - Requires `active: true`, `token_type: "Bearer"` (oidc-provider omits it for refresh tokens),
 *   a numeric unexpired `exp`, `iss` equal to `issuer`, an `aud` that includes `audience` (a token
 *   without `aud` only with `acceptTokensWithoutAudience`), and a `client_id`; the principal is made as
 *   for a JWT ({@link principalFromClaims}).
 *
 * @example
 * ```ts
 * const verifier = createIntrospectionVerifier({
 *   url: 'http://localhost:4000/oauth/introspect',
 *   clientId: 'service-introspector',
 *   clientSecret: process.env.INTROSPECTION_CLIENT_SECRET!,
 *   issuer: 'http://localhost:4000/oauth',
 *   // This service's own identifier: tokens for any other service are refused (401).
 *   audience: 'http://localhost:4001',
 *   onCredentialsChange: (state) => {
 *     if (state === 'rejected') log.error('configuration error: the IDP rejects INTROSPECTION_CLIENT_ID/_SECRET');
 *   },
 * });
 * app.use('/v1', requireBearer(verifier, { realm: 'my-service' }));
 * app.get('/healthz', (req, res) => {
 *   if (verifier.credentials === 'rejected') res.status(503).json({ status: 'misconfigured' });
 *   else res.json({ status: 'ok' });
 * });
 * ```
 */
export function createIntrospectionVerifier(options: IntrospectionVerifierOptions): IntrospectionVerifier {
  const {
    clientId,
    clientSecret,
    issuer,
    audience,
    acceptTokensWithoutAudience = false,
    timeoutMs = 2000,
    cacheMaxTtlSeconds = 30,
    negativeTtlSeconds = 5,
    cacheMaxEntries = 10_000,
    retryAfterSeconds = 5,
    now = Date.now,
    fetch: fetchImpl = globalThis.fetch,
    onCredentialsChange,
    revocations,
  } = options;
  const url = String(options.url);
  const basic = clientSecretBasic(clientId, clientSecret);

  const stats: IntrospectionStats = { introspections: 0, cacheHits: 0, coalesced: 0, failures: 0, evictions: 0 };
  const maxTtlMs = cacheMaxTtlSeconds * 1000;
  const cache = new TokenCache<Outcome>({
    max: cacheMaxEntries,
    now,
    maxAgeMs: revocations ? (coverage) => revocations.maxAgeMs(coverage, maxTtlMs) : () => maxTtlMs,
    onEvict: () => {
      stats.evictions += 1;
    },
  });
  revocations?.register(revocationTarget(cache));
  const inFlight = new Map<string, Promise<Outcome>>();

  let credentials: CredentialsState = 'unknown';
  const credentialsAre = (state: 'accepted' | 'rejected') => {
    if (credentials === state) return;
    credentials = state;
    onCredentialsChange?.(state);
  };

  const unavailable = (reason: string, { cause, code }: { cause?: unknown; code?: UnavailableCode } = {}) => {
    stats.failures += 1;
    return new TemporarilyUnavailable('the authorization server is unavailable', retryAfterSeconds, {
      cause: cause === undefined ? new Error(reason) : new Error(reason, { cause }),
      code,
    });
  };

  async function introspect(token: string): Promise<Outcome> {
    stats.introspections += 1;
    let response: Response;
    let body: unknown;
    try {
      response = await fetchImpl(url, {
        method: 'POST',
        headers: {
          authorization: basic,
          'content-type': 'application/x-www-form-urlencoded',
          accept: 'application/json',
        },
        body: new URLSearchParams({ token, token_type_hint: 'access_token' }),
        redirect: 'error',
        signal: AbortSignal.timeout(timeoutMs),
      });
      body = await response.json().catch(() => undefined);
    } catch (err) {
      throw unavailable('introspection request failed', { cause: err });
    }

    const error = isObject(body) && typeof body.error === 'string' ? body.error : undefined;
    // RFC 6749 §5.2: a failed client authentication is invalid_client, with 401 when it was HTTP Basic.
    if (response.status === 401 || error === 'invalid_client') {
      credentialsAre('rejected');
      throw unavailable(`introspection answered ${response.status}${error ? ` ${error}` : ''}`, { code: 'ERR_CLIENT_CREDENTIALS_REJECTED' });
    }
    // oidc-provider authenticates the client first, then refuses JWT-shaped tokens this way: the
    // token's fault, not the IDP's.
    if (response.status === 400 && error === 'unsupported_token_type') {
      credentialsAre('accepted');
      return { rejection: 'the token is not valid' };
    }
    if (response.status !== 200) {
      throw unavailable(`introspection answered ${response.status}${error ? ` ${error}` : ''}`);
    }
    if (!isObject(body) || typeof body.active !== 'boolean') {
      throw unavailable('introspection response is not an RFC 7662 JSON object');
    }
    credentialsAre('accepted');
    return judge(body);
  }

  function judge(claims: Record<string, unknown>): Outcome {
    if (claims.active !== true) return { rejection: 'the token is not active' };
    if (claims.iss !== issuer) return { rejection: 'the token was issued by another issuer' };
    if (!meantFor(claims.aud, audience, acceptTokensWithoutAudience)) return { rejection: NOT_MEANT_FOR_US };
    if (typeof claims.token_type !== 'string' || claims.token_type.toLowerCase() !== 'bearer') {
      return { rejection: 'the token is not a bearer access token' };
    }
    let principal: Principal;
    try {
      principal = principalFromClaims(claims);
    } catch (err) {
      // Kept as an outcome, not thrown: rejections are cached and shared by waiting callers.
      if (err instanceof InvalidToken) return { rejection: err.error_description };
      throw err;
    }
    if (principal.expiresAt * 1000 <= now()) return { rejection: 'the token has expired' };
    return { principal };
  }

  // `cachedAt` is when the question was asked: the answer is no fresher than that.
  function remember(key: string, outcome: Outcome, cachedAt: number, coverage: number): void {
    if ('principal' in outcome) {
      const { principal } = outcome;
      cache.set(key, outcome, { cachedAt, coverage, expiresAtMs: principal.expiresAt * 1000, subject: principal.subject, clientId: principal.clientId, delegated: principal.actor !== undefined });
    } else {
      const fixedMaxAgeMs = negativeTtlSeconds * 1000;
      cache.set(key, outcome, { cachedAt, expiresAtMs: cachedAt + fixedMaxAgeMs, fixedMaxAgeMs });
    }
  }

  async function lookup(token: string): Promise<Outcome> {
    // One-shot hash: about half the cost of createHash().update().digest() on every request.
    const key = hash('sha256', token, 'base64url');
    const cached = cache.get(key);
    if (cached !== undefined) {
      stats.cacheHits += 1;
      return cached;
    }
    const pending = inFlight.get(key);
    if (pending !== undefined) {
      stats.coalesced += 1;
      return pending;
    }
    const askedAt = now();
    const generation = revocations?.generation;
    const coverage = revocations?.coverage() ?? 0;
    const request = introspect(token)
      .then((outcome) => {
        // A revocation applied while we asked may be about this token, and the answer predates it.
        if (revocations?.generation === generation) remember(key, outcome, askedAt, coverage);
        return outcome;
      })
      .finally(() => inFlight.delete(key));
    inFlight.set(key, request);
    return request;
  }

  return {
    stats,
    get credentials() {
      return credentials;
    },
    cacheKeys: () => [...cache.keys()],
    async verify(token: string): Promise<Principal> {
      assertTokenShape(token);
      const outcome = await lookup(token);
      // A fresh error per caller: waiters of one request never share a mutable object.
      if ('rejection' in outcome) throw new InvalidToken(outcome.rejection);
      return outcome.principal;
    },
  };
}

/** The same words as the JWT verifier's, so a caller cannot tell the two modes apart by them. */
const NOT_MEANT_FOR_US = 'the token is not meant for this service';

/** RFC 7662 §2.2 / RFC 7519 §4.1.3: `aud` is one string or an array of strings, compared verbatim. */
function meantFor(aud: unknown, audience: string, acceptWithoutAudience: boolean): boolean {
  if (aud === undefined) return acceptWithoutAudience;
  return typeof aud === 'string' ? aud === audience : Array.isArray(aud) && aud.includes(audience);
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
