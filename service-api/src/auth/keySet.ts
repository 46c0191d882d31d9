import { createLocalJWKSet, createRemoteJWKSet, customFetch, errors, type JSONWebKeySet, type JWTVerifyGetKey } from 'jose';

/** The JWKS could not be fetched; kept apart from token errors so it becomes a 503 (or a retry), not a rejection. */
export class JwksUnavailable extends Error {}

export type KeySetOptions = {
  jwksUrl: string | URL;
  /** Minimum time between two JWKS fetches caused by an unknown `kid`. Default 30. */
  cooldownSeconds?: number;
  /** Keys are refetched on the first use after this age. Default 600. */
  cacheMaxAgeSeconds?: number;
  /** Per JWKS request. Default 2000. */
  timeoutMs?: number;
  fetch?: typeof fetch;
  /** Each request to the JWKS endpoint. */
  onFetch?: () => void;
  /** Each failed fetch (unreachable, timeout, non-200, not a JWKS). */
  onFailure?: () => void;
};

/**
 * The IDP's signing keys for jose's `jwtVerify` (`createRemoteJWKSet`): cached, refetched after
 * `cacheMaxAgeSeconds`, and on an unknown `kid` at most once per `cooldownSeconds` (key rotation).
 * During an outage the keys of the last successful fetch still count (jose alone would refetch and
 * fail); with none that matches it throws {@link JwksUnavailable}.
 */
export function createKeySet({ jwksUrl, cooldownSeconds = 30, cacheMaxAgeSeconds = 600, timeoutMs = 2000, fetch: fetchImpl = globalThis.fetch, onFetch, onFailure }: KeySetOptions): JWTVerifyGetKey {
  const remote = createRemoteJWKSet(new URL(String(jwksUrl)), {
    cooldownDuration: cooldownSeconds * 1000,
    cacheMaxAge: cacheMaxAgeSeconds * 1000,
    timeoutDuration: timeoutMs,
    [customFetch]: (url: string, init: RequestInit) => {
      onFetch?.();
      return fetchImpl(url, init);
    },
  });

  let stale: { jwks: JSONWebKeySet; getKey: JWTVerifyGetKey } | undefined;
  return async (header, token) => {
    try {
      return await remote(header, token);
    } catch (err) {
      if (err instanceof errors.JWKSNoMatchingKey || err instanceof errors.JWKSMultipleMatchingKeys) throw err;
      onFailure?.();
      const unavailable = new JwksUnavailable('the JWKS could not be fetched', { cause: err });
      const cached = remote.jwks();
      if (cached === undefined) throw unavailable;
      if (stale?.jwks !== cached) stale = { jwks: cached, getKey: createLocalJWKSet(cached) };
      try {
        return await stale.getKey(header, token);
      } catch {
        throw unavailable;
      }
    }
  };
}
