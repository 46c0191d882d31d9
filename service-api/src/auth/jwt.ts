import { hash } from 'node:crypto';
import { errors, jwtVerify, type JWTPayload } from 'jose';
import { InvalidToken, TemporarilyUnavailable } from './errors.ts';
import { createKeySet, JwksUnavailable } from './keySet.ts';
import { principalFromClaims, type Principal, type TokenVerifier } from './principal.ts';
import { revocationTarget, type Revocations } from './revocations.ts';
import { TokenCache } from './tokenCache.ts';
import { assertTokenShape, isJwtShaped } from './tokenShape.ts';

/** Asymmetric algorithms only: `none` and HS* (a shared secret) are never accepted. */
export const JWT_ALGORITHMS = Object.freeze(['RS256', 'PS256', 'ES256']);

export type JwtVerifierOptions = {
  /** The IDP's JWKS, e.g. `http://localhost:4000/oauth/jwks.json`. */
  jwksUrl: string | URL;
  /** Required value of `iss`, compared verbatim. */
  issuer: string;
  /**
   * Required value (or member) of `aud`: this resource server's identifier (RFC 8707), so a token
   * meant for another service is refused (jose's audience check).
   */
  audience: string;
  /** Accept a token without any `aud` claim (checked by every other rule). For a migration only. Default false. */
  acceptTokensWithoutAudience?: boolean;
  /** Default {@link JWT_ALGORITHMS}. */
  algorithms?: readonly string[];
  /** Minimum time between two JWKS fetches caused by an unknown `kid`. Default 30. */
  cooldownSeconds?: number;
  /** Keys are refetched on the first use after this age. Default 600. */
  cacheMaxAgeSeconds?: number;
  /** Per JWKS request. Default 2000. */
  timeoutMs?: number;
  /** Sent as `Retry-After` when the JWKS cannot be fetched and no cached key matches. Default 5. */
  retryAfterSeconds?: number;
  /**
   * A verified token's principal is reused for at most this long (and never past `exp`), keyed on the
   * SHA-256 of the token: an RS256 check costs more than the rest of a request. 0 disables. Default 30.
   */
  principalCacheSeconds?: number;
  /** Bound on cached principals. Default 10000. */
  principalCacheMaxEntries?: number;
  /** Epoch milliseconds for `exp`/`nbf` checks; tests freeze it. Default `Date.now`. */
  now?: () => number;
  /** Default: the global fetch. */
  fetch?: typeof fetch;
  /**
   * Revocation events (see ssfReceiver.ts): a token whose `jti` was revoked is refused until its
   * `exp`, cached principals are evicted as events name them, and while the event stream is healthy
   * they live until `exp` instead of `principalCacheSeconds`. Default: none (JWTs are not revocable).
   */
  revocations?: Revocations;
};

/** Counters for tests and benchmarks. */
export type JwtVerifierStats = {
  /** Tokens checked (accepted or not). */
  verifications: number;
  /** Requests answered from the principal cache, without a signature check. */
  cacheHits: number;
  /** Requests made to the JWKS endpoint, failed ones included. */
  jwksFetches: number;
  /** JWKS fetches that failed (unreachable, timeout, non-200, not a JWKS). */
  failures: number;
};

export interface JwtVerifier extends TokenVerifier {
  readonly stats: Readonly<JwtVerifierStats>;
}

/**
 * A {@link TokenVerifier} for RFC 9068 JWT access tokens (`typ: at+jwt`), verified locally with the
 * IDP's published keys — no call to the IDP per token.
 *
 * - Signature with a key from `jwksUrl` (jose `createRemoteJWKSet`): keys are cached, refetched after
 *   `cacheMaxAgeSeconds`, and on an unknown `kid` at most once per `cooldownSeconds` (key rotation).
 * - Checks `typ: at+jwt`, an allow-listed asymmetric `alg`, `iss`, `aud` (must include `audience`;
 *   none at all only with `acceptTokensWithoutAudience`), `exp` (required), `nbf`,
 *   and a `client_id` claim (RFC 9068 §2.2).
 * - Tokens that are not JWT-shaped are rejected (401) without any network call.
 * - JWKS unreachable, timing out or garbled → `TemporarilyUnavailable` (503), unless a key fetched
 *   earlier matches: cached keys keep working during an IDP outage, even past `cacheMaxAgeSeconds`.
 * - A verified token's principal is cached (SHA-256 key) for `principalCacheSeconds`, never past `exp`.
 * - Without `revocations` such tokens cannot be revoked: a JWT stays valid until its `exp` whatever
 *   the IDP says. With them, a revoked `jti` is refused (401) as soon as the event arrives.
 *
 * @example
 * ```ts
 * const verifier = createJwtVerifier({
 *   jwksUrl: 'http://localhost:4000/oauth/jwks.json',
 *   issuer: 'http://localhost:4000/oauth',
 *   // This service's own identifier: tokens for any other service are refused (401).
 *   audience: 'http://localhost:4001',
 * });
 * app.use('/v1', requireBearer(verifier, { realm: 'my-service' }));
 * // Opaque and JWT tokens side by side: createAutoVerifier({ jwt: verifier, introspection }).
 * ```
 */
export function createJwtVerifier(options: JwtVerifierOptions): JwtVerifier {
  const {
    issuer,
    audience,
    acceptTokensWithoutAudience = false,
    algorithms = JWT_ALGORITHMS,
    cooldownSeconds = 30,
    cacheMaxAgeSeconds = 600,
    timeoutMs = 2000,
    retryAfterSeconds = 5,
    principalCacheSeconds = 30,
    principalCacheMaxEntries = 10_000,
    now = Date.now,
    fetch: fetchImpl = globalThis.fetch,
    revocations,
  } = options;
  for (const alg of algorithms) {
    if (alg === 'none' || alg.startsWith('HS')) throw new TypeError(`algorithms must not include ${alg}`);
  }
  const stats: JwtVerifierStats = { verifications: 0, cacheHits: 0, jwksFetches: 0, failures: 0 };
  const principalMaxMs = principalCacheSeconds * 1000;
  const principals = new TokenCache<Principal>({
    max: principalCacheMaxEntries,
    now,
    maxAgeMs: revocations ? (coverage) => revocations.maxAgeMs(coverage, principalMaxMs) : () => principalMaxMs,
  });
  revocations?.register(revocationTarget(principals));

  const getKey = createKeySet({
    jwksUrl: options.jwksUrl,
    cooldownSeconds,
    cacheMaxAgeSeconds,
    timeoutMs,
    fetch: fetchImpl,
    onFetch: () => {
      stats.jwksFetches += 1;
    },
    onFailure: () => {
      stats.failures += 1;
    },
  });

  const withoutAudience = { issuer, algorithms: [...algorithms], typ: 'at+jwt', requiredClaims: ['exp'] };
  const verifyOptions = { ...withoutAudience, audience };

  async function verified(token: string, currentDate: Date): Promise<JWTPayload> {
    try {
      return (await jwtVerify(token, getKey, { ...verifyOptions, currentDate })).payload;
    } catch (err) {
      // Migration only: a token with no `aud` at all is checked again by every rule but the audience.
      if (acceptTokensWithoutAudience && err instanceof errors.JWTClaimValidationFailed && err.claim === 'aud' && err.reason === 'missing') {
        return (await jwtVerify(token, getKey, { ...withoutAudience, currentDate })).payload;
      }
      throw err;
    }
  }

  return {
    stats,
    async verify(token: string): Promise<Principal> {
      assertTokenShape(token);
      if (!isJwtShaped(token)) throw new InvalidToken('the token is not a JWT');
      const key = hash('sha256', token, 'base64url');
      const cached = principals.get(key);
      if (cached !== undefined) {
        stats.cacheHits += 1;
        return cached;
      }
      stats.verifications += 1;
      const checkedAt = now();
      const coverage = revocations?.coverage() ?? 0;
      let payload: JWTPayload;
      try {
        payload = await verified(token, new Date(now()));
      } catch (err) {
        if (err instanceof JwksUnavailable) {
          throw new TemporarilyUnavailable('the authorization server is unavailable', retryAfterSeconds, { cause: err });
        }
        if (err instanceof errors.JOSEError) throw new InvalidToken(describe(err));
        throw err;
      }
      // jose has checked exp, iss, aud and the signature; RFC 9068 §2.2 also requires client_id.
      const principal = principalFromClaims(payload);
      const jti = typeof payload.jti === 'string' ? payload.jti : undefined;
      if (jti !== undefined && revocations?.isJtiRevoked(jti)) throw new InvalidToken('the token has been revoked');
      principals.set(key, principal, { cachedAt: checkedAt, coverage, expiresAtMs: principal.expiresAt * 1000, subject: principal.subject, clientId: principal.clientId, jti, delegated: principal.actor !== undefined });
      return principal;
    },
  };
}

/** A description safe for the wire: it names the failed check, never token content. */
function describe(err: errors.JOSEError): string {
  if (err instanceof errors.JWTExpired) return 'the token has expired';
  if (err instanceof errors.JWTClaimValidationFailed) {
    switch (err.claim) {
      case 'iss':
        return 'the token was issued by another issuer';
      case 'aud':
        return 'the token is not meant for this service';
      case 'nbf':
        return 'the token is not yet valid';
      case 'typ':
        return 'the token is not an at+jwt access token';
      case 'exp':
        return 'the token has no expiry';
      default:
        return `the token's ${err.claim.replace(/[^a-z_]/gi, '')} claim is not acceptable`;
    }
  }
  if (err instanceof errors.JOSEAlgNotAllowed) return 'the token is signed with an algorithm that is not allowed';
  if (err instanceof errors.JWSSignatureVerificationFailed || err instanceof errors.JWKSNoMatchingKey) {
    return 'the token signature is not valid';
  }
  return 'the token is malformed';
}
