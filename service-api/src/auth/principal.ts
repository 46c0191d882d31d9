import { InvalidToken } from './errors.ts';

/**
 * Who is calling, as established by a {@link TokenVerifier}. `kind` is `'user'` for a token issued to
 * an end user and `'machine'` for a client_credentials token: one without a subject, or whose subject
 * is its own client (RFC 9068 §2.2 has a client_credentials JWT carry `sub` = `client_id`).
 */
export type Principal = Readonly<{
  subject?: string;
  clientId: string;
  scopes: readonly string[];
  kind: 'user' | 'machine';
  /** Token expiry, epoch seconds. */
  expiresAt: number;
  /**
   * Who acts for the subject, when the token came from a token exchange (RFC 8693 §4.1 `act`): the
   * client that exchanged it (`sub`), and in `act` whoever exchanged the token before it.
   */
  actor?: Actor;
}>;

export type Actor = Readonly<{ sub: string; act?: Actor }>;

/** Deeper `act` nesting than this is not a delegation chain an IDP of ours issues. */
const MAX_ACTORS = 8;

function actorOf(value: unknown, depth = 0): Actor | undefined {
  if (value === undefined) return undefined;
  const { sub, act } = (typeof value === 'object' && value !== null ? value : {}) as { sub?: unknown; act?: unknown };
  if (depth >= MAX_ACTORS || typeof sub !== 'string' || sub === '') throw new InvalidToken('the token has a malformed act claim');
  const inner = actorOf(act, depth + 1);
  return Object.freeze(inner ? { sub, act: inner } : { sub });
}

/**
 * Turns a bearer token into a {@link Principal}. Implementations reject with `InvalidToken` (401) when
 * the token is not acceptable and `TemporarilyUnavailable` (503) when they cannot tell. Introspection
 * is one implementation; local JWT verification (jose + JWKS) can be another behind the same interface.
 */
export interface TokenVerifier {
  verify(token: string): Promise<Principal>;
}

/**
 * The one place a {@link Principal} is made, from the claims of a verified JWT or of an active
 * introspection response (the two share these member names). Throws `InvalidToken` when `exp` or
 * `client_id` is missing; everything else (signature, `iss`, `aud`, expiry) is the caller's check.
 */
export function principalFromClaims(claims: { sub?: unknown; client_id?: unknown; scope?: unknown; exp?: unknown; act?: unknown }): Principal {
  const { client_id: clientId, exp } = claims;
  if (typeof exp !== 'number' || !Number.isFinite(exp)) throw new InvalidToken('the token has no expiry');
  if (typeof clientId !== 'string' || clientId === '') throw new InvalidToken('the token has no client');
  const subject = typeof claims.sub === 'string' && claims.sub !== '' && claims.sub !== clientId ? claims.sub : undefined;
  const scopes = typeof claims.scope === 'string' ? claims.scope.split(' ').filter(Boolean) : [];
  const actor = actorOf(claims.act);
  return Object.freeze({
    ...(subject === undefined ? {} : { subject }),
    clientId,
    scopes: Object.freeze(scopes),
    kind: subject === undefined ? 'machine' : 'user',
    expiresAt: exp,
    ...(actor === undefined ? {} : { actor }),
  });
}
