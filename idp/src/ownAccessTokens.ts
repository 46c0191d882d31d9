import { createLocalJWKSet, errors as joseErrors, jwtVerify, type JWK, type JWTPayload } from 'jose';

/** The public members of a JWK (RFC 7517/7518); a private JWKS must never verify with its `d`. */
const PUBLIC_MEMBERS = ['kty', 'kid', 'alg', 'use', 'key_ops', 'n', 'e', 'crv', 'x', 'y'] as const;
const publicJwk = (jwk: JWK): JWK => Object.fromEntries(PUBLIC_MEMBERS.flatMap((m) => (jwk[m] === undefined ? [] : [[m, jwk[m]]]))) as JWK;

/**
 * Verifies a JWT access token (RFC 9068) this IDP issued: signed with one of its keys (asked at
 * every call, so a rotation is followed; the key set is rebuilt only when the keys change), its issuer,
 * `typ: at+jwt`. The payload, or undefined for anything else (not ours, tampered with, expired): an
 * invalid token, never an IDP failure. Used by JWT revocation and by token exchange.
 */
export function ownAccessTokenVerifier(issuer: string, keys: () => JWK[]) {
  let verifiedWith: JWK[] | undefined;
  let keySet: ReturnType<typeof createLocalJWKSet> | undefined;
  return async (token: string): Promise<JWTPayload | undefined> => {
    const current = keys();
    if (current !== verifiedWith || keySet === undefined) {
      keySet = createLocalJWKSet({ keys: current.map(publicJwk) });
      verifiedWith = current;
    }
    try {
      return (await jwtVerify(token, keySet, { issuer, typ: 'at+jwt', algorithms: ['RS256'] })).payload;
    } catch (err) {
      if (err instanceof joseErrors.JOSEError) return undefined;
      throw err;
    }
  };
}
