import { InvalidToken } from './errors.ts';

/**
 * Every syntactic check of a token lives here, so the header parser and the verifiers agree on what a
 * token looks like.
 */

/** RFC 6750 §2.1 `b64token`. */
const B64TOKEN = '[A-Za-z0-9\\-._~+/]+=*';

/** `Bearer` 1*SP b64token (RFC 6750 §2.1); the scheme is case-insensitive (RFC 9110 §11.1). */
const BEARER_HEADER = new RegExp(`^Bearer +(${B64TOKEN})$`, 'i');

const B64TOKEN_ONLY = new RegExp(`^${B64TOKEN}$`);

/** Three base64url segments (the signature may be empty, as in `alg: none`, so such tokens are judged by the JWT verifier). */
const JWT_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;

/** Longest token any verifier accepts; longer ones are rejected before any network call. */
export const MAX_TOKEN_LENGTH = 4096;

/** The token of an `Authorization: Bearer <b64token>` header value, or undefined if it is not one. */
export function bearerTokenOf(header: string): string | undefined {
  return BEARER_HEADER.exec(header)?.[1];
}

/** Rejects tokens no authorization server of ours issues, so they cost nothing downstream. */
export function assertTokenShape(token: string): void {
  if (token.length > MAX_TOKEN_LENGTH) throw new InvalidToken('the token is too long');
  if (!B64TOKEN_ONLY.test(token)) throw new InvalidToken('the token is malformed');
}

/** True for a JWS compact serialization; opaque tokens of oidc-provider never contain a dot. */
export function isJwtShaped(token: string): boolean {
  return JWT_SHAPE.test(token);
}
