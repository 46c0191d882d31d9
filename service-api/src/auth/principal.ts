import { InvalidToken } from './errors.ts';

/**
 * Who is calling, as established by a {@link TokenVerifier}. `kind` is `'user'` for a token issued to
 * an end user (it has a subject) and `'machine'` for a client_credentials token.
 */
export type Principal = Readonly<{
  subject?: string;
  clientId: string;
  scopes: readonly string[];
  kind: 'user' | 'machine';
  /** Token expiry, epoch seconds. */
  expiresAt: number;
}>;

/**
 * Turns a bearer token into a {@link Principal}. Implementations reject with `InvalidToken` (401) when
 * the token is not acceptable and `TemporarilyUnavailable` (503) when they cannot tell. Introspection
 * is one implementation; local JWT verification (jose + JWKS) can be another behind the same interface.
 */
export interface TokenVerifier {
  verify(token: string): Promise<Principal>;
}

/** Longest token any verifier accepts; longer ones are rejected before any network call. */
export const MAX_TOKEN_LENGTH = 4096;

/** RFC 6750 §2.1 `b64token`. */
const B64TOKEN = /^[A-Za-z0-9\-._~+/]+=*$/;

/** Rejects tokens no authorization server of ours issues, so they cost nothing downstream. */
export function assertTokenShape(token: string): void {
  if (token.length > MAX_TOKEN_LENGTH) throw new InvalidToken('the token is too long');
  if (!B64TOKEN.test(token)) throw new InvalidToken('the token is malformed');
}
