/**
 * The errors a resource server answers with: one class per RFC 6750 error code, plus the
 * "no credentials at all" case (RFC 6750 §3.1: a challenge without an error code) and an outage of the
 * authorization server (503 `temporarily_unavailable`, never a 401: the token may well be valid).
 *
 * Each error carries what goes on the wire: `status`, `error`, `error_description`, and `headers(realm)`.
 * `error_description` is written by this folder only and never contains the token.
 */
export abstract class AuthError extends Error {
  abstract readonly status: number;
  abstract readonly error: string;

  constructor(readonly error_description: string, options?: { cause?: unknown }) {
    super(error_description, options);
    this.name = new.target.name;
  }

  /** Response headers, e.g. `{ 'WWW-Authenticate': 'Bearer realm="service-api", error="invalid_token", …' }`. */
  abstract headers(realm: string): Record<string, string>;

  /** The JSON body. */
  toJSON(): { error: string; error_description: string } {
    return { error: this.error, error_description: this.error_description };
  }
}

/** RFC 6750 §3.1: the request carries no bearer credentials, so the challenge has no error code. */
export class MissingToken extends AuthError {
  readonly status = 401;
  readonly error = 'unauthorized';

  constructor(description = 'a bearer token is required') {
    super(description);
  }

  headers(realm: string): Record<string, string> {
    return { 'WWW-Authenticate': challenge(realm, {}) };
  }
}

/** RFC 6750 `invalid_request` (400): a malformed Authorization header. */
export class InvalidRequest extends AuthError {
  readonly status = 400;
  readonly error = 'invalid_request';

  headers(realm: string): Record<string, string> {
    return { 'WWW-Authenticate': challenge(realm, { error: this.error, error_description: this.error_description }) };
  }
}

/** RFC 6750 `invalid_token` (401): unknown, inactive, expired, foreign or malformed token. */
export class InvalidToken extends AuthError {
  readonly status = 401;
  readonly error = 'invalid_token';

  headers(realm: string): Record<string, string> {
    return { 'WWW-Authenticate': challenge(realm, { error: this.error, error_description: this.error_description }) };
  }
}

/** RFC 6750 `insufficient_scope` (403): the token is valid but lacks `scope`. */
export class InsufficientScope extends AuthError {
  readonly status = 403;
  readonly error = 'insufficient_scope';

  constructor(readonly scope: string, description = `the token lacks the scope "${scope}"`) {
    super(description);
  }

  headers(realm: string): Record<string, string> {
    return { 'WWW-Authenticate': challenge(realm, { error: this.error, scope: this.scope }) };
  }

  override toJSON(): { error: string; error_description: string; scope: string } {
    return { ...super.toJSON(), scope: this.scope };
  }
}

/**
 * Why a {@link TemporarilyUnavailable} was raised, for the logs and health checks (never on the wire):
 * - `ERR_AUTHORIZATION_SERVER_UNAVAILABLE`: unreachable, timeout, 5xx, unreadable answer — an outage;
 * - `ERR_CLIENT_CREDENTIALS_REJECTED`: the IDP refused our own client credentials — a configuration error.
 */
export type UnavailableCode = 'ERR_AUTHORIZATION_SERVER_UNAVAILABLE' | 'ERR_CLIENT_CREDENTIALS_REJECTED';

/**
 * The authorization server could not answer (unreachable, timeout, 5xx, our own client credentials
 * rejected, unreadable response). 503 + `Retry-After`, so callers retry instead of dropping the token:
 * nothing about their token is known. `code` and `cause` are for the logs; neither is serialized.
 */
export class TemporarilyUnavailable extends AuthError {
  readonly status = 503;
  readonly error = 'temporarily_unavailable';
  readonly code: UnavailableCode;

  constructor(description: string, readonly retryAfterSeconds: number, options?: { cause?: unknown; code?: UnavailableCode }) {
    super(description, options);
    this.code = options?.code ?? 'ERR_AUTHORIZATION_SERVER_UNAVAILABLE';
  }

  headers(): Record<string, string> {
    return { 'Retry-After': String(this.retryAfterSeconds) };
  }
}

/** `Bearer realm="…", key="value", …` with values reduced to the characters RFC 6750 §3 allows. */
function challenge(realm: string, params: Record<string, string>): string {
  const parts = Object.entries({ realm, ...params }).map(([key, value]) => `${key}="${quotable(value)}"`);
  return `Bearer ${parts.join(', ')}`;
}

function quotable(value: string): string {
  return value.replace(/[^\x20\x21\x23-\x5b\x5d-\x7e]/g, '?');
}
