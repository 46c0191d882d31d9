import * as oidc from 'openid-client';
import { parseRetryAfter } from './retryAfter.ts';

/** What was asked of the IDP; named in messages so a log line says which request failed. */
export type IdpOperation = 'discovery' | 'token request' | 'code exchange' | 'refresh' | 'userinfo' | 'revocation';

export interface IdpErrorDetails {
  /** HTTP status of the IDP's answer, when there was one. */
  idpStatus?: number | undefined;
  /** The OAuth `error` code the IDP sent (RFC 6749 §5.2), when it sent a well-formed one. */
  idpError?: string | undefined;
  /** Seconds to wait, from the IDP's `Retry-After`, when it sent one. */
  retryAfterSeconds?: number | undefined;
}

/**
 * Why a request to the IDP failed, sorted by what a caller can do about it. Catch a subclass
 * (`err instanceof IdpUnavailable`) or compare the stable `code`. The message is safe to log: it never
 * holds a token or a secret, and there is no `cause` (openid-client's errors may carry a whole token
 * response there).
 */
export abstract class IdpError extends Error {
  abstract readonly code: 'ERR_IDP_UNAVAILABLE' | 'ERR_IDP_REJECTED' | 'ERR_IDP_INVALID_RESPONSE';
  readonly idpStatus: number | undefined;
  readonly idpError: string | undefined;
  readonly retryAfterSeconds: number | undefined;

  constructor(
    readonly operation: IdpOperation,
    message: string,
    details: IdpErrorDetails = {},
  ) {
    super(message);
    this.idpStatus = details.idpStatus;
    this.idpError = details.idpError;
    this.retryAfterSeconds = details.retryAfterSeconds;
  }
}

/** The IDP could not be reached, timed out, answered 5xx or 429: worth trying again later. */
export class IdpUnavailable extends IdpError {
  static readonly code = 'ERR_IDP_UNAVAILABLE';
  override readonly name = 'IdpUnavailable';
  readonly code = IdpUnavailable.code;
}

/** The IDP refused the request (`invalid_client`, `invalid_grant`, a 4xx): asking again will not help. */
export class IdpRejected extends IdpError {
  static readonly code = 'ERR_IDP_REJECTED';
  override readonly name = 'IdpRejected';
  readonly code = IdpRejected.code;
}

/** The IDP answered, but not with something usable (not JSON, a claim that does not match, …). */
export class IdpInvalidResponse extends IdpError {
  static readonly code = 'ERR_IDP_INVALID_RESPONSE';
  override readonly name = 'IdpInvalidResponse';
  readonly code = IdpInvalidResponse.code;
}

// OAuth error codes are printable ASCII without `"` and `\` (RFC 6749 §5.2); anything else is not repeated.
const ERROR_CODE = /^[\x20-\x21\x23-\x5b\x5d-\x7e]{1,64}$/;
// openid-client's own misuse and configuration errors: a bug here, not a failure of the IDP.
// (`undefined` is its "something went wrong" wrapper of an unexpected exception.)
const LOCAL_ERROR_CODES = new Set<unknown>(['OAUTH_HTTP_REQUEST_FORBIDDEN', 'OAUTH_REQUEST_PROTOCOL_FORBIDDEN', 'OAUTH_UNSUPPORTED_OPERATION', undefined]);

/**
 * The one classifier of openid-client/oauth4webapi/fetch failures. Returns `undefined` for anything
 * that is not a failure of the IDP (a programming error): rethrow that one unchanged.
 *
 * @example
 * ```ts
 * try {
 *   await oidc.refreshTokenGrant(config, refreshToken);
 * } catch (err) {
 *   throw classifyIdpError(err, 'refresh') ?? err;
 * }
 * ```
 */
export function classifyIdpError(err: unknown, operation: IdpOperation, now: number = Date.now()): IdpError | undefined {
  if (err instanceof IdpError) return err;
  const failed = `IDP ${operation} failed`;

  // An OAuth error body (4xx): `invalid_client`, `invalid_grant`, …
  if (err instanceof oidc.ResponseBodyError) {
    return byStatus(err.response, operation, `${failed}: ${err.status} ${errorCode(err.error) ?? ''}`.trimEnd(), errorCode(err.error), now);
  }
  // A 401/403 with a WWW-Authenticate challenge (userinfo refusing the access token).
  if (err instanceof oidc.WWWAuthenticateChallengeError) {
    const code = errorCode(err.cause[0]?.parameters.error);
    return byStatus(err.response, operation, `${failed}: ${err.status}${code === undefined ? '' : ` ${code}`}`, code, now);
  }
  // The authorization response carried `error` (RFC 6749 §4.1.2.1).
  if (err instanceof oidc.AuthorizationResponseError) {
    const code = errorCode(err.error);
    const message = `${failed}: ${code ?? 'error'}`;
    return code === 'temporarily_unavailable' || code === 'server_error'
      ? new IdpUnavailable(operation, message, { idpError: code })
      : new IdpRejected(operation, message, { idpError: code });
  }
  if (err instanceof oidc.ClientError) {
    if (err.code === 'OAUTH_TIMEOUT' || err.code === 'OAUTH_ABORT') return new IdpUnavailable(operation, `IDP ${operation} timed out`);
    // An answer with an unexpected status or content type: the Response is the cause.
    if (err.cause instanceof Response) {
      const status = err.cause.status;
      if (status >= 200 && status < 300) return new IdpInvalidResponse(operation, `${failed}: ${status} ${err.message}`, { idpStatus: status });
      return byStatus(err.cause, operation, `${failed}: ${status}`, undefined, now);
    }
    if (LOCAL_ERROR_CODES.has(err.code)) return undefined;
    // Parse errors, missing fields, claims or metadata that do not match what was expected.
    return new IdpInvalidResponse(operation, `${failed}: ${err.message}`);
  }
  // fetch() rejects with a plain TypeError ("fetch failed") when the IDP cannot be reached;
  // openid-client's argument errors are TypeErrors too, but carry an ERR_* code.
  if (err instanceof TypeError && !('code' in err)) {
    const code = (err.cause as { code?: unknown } | undefined)?.code;
    return new IdpUnavailable(operation, `${failed}: cannot reach the IDP${typeof code === 'string' ? ` (${code})` : ''}`);
  }
  if (err instanceof DOMException && (err.name === 'TimeoutError' || err.name === 'AbortError')) {
    return new IdpUnavailable(operation, `IDP ${operation} timed out`);
  }
  return undefined;
}

/**
 * Runs one request to the IDP; its failures come out as an IdpError, anything else unchanged.
 *
 * @example
 * ```ts
 * const userinfo = await askIdp('userinfo', () => oidc.fetchUserInfo(config, accessToken, sub));
 * ```
 */
export async function askIdp<T>(operation: IdpOperation, request: () => Promise<T>): Promise<T> {
  try {
    return await request();
  } catch (err) {
    throw classifyIdpError(err, operation) ?? err;
  }
}

function byStatus(response: Response, operation: IdpOperation, message: string, idpError: string | undefined, now: number): IdpError {
  const details = { idpStatus: response.status, idpError, retryAfterSeconds: parseRetryAfter(response.headers.get('retry-after'), now) };
  // 429 (RFC 6585) and 5xx say "later"; every other refusal is final.
  if (response.status >= 500 || response.status === 429) return new IdpUnavailable(operation, message, details);
  if (response.status >= 400) return new IdpRejected(operation, message, details);
  return new IdpInvalidResponse(operation, message, details);
}

function errorCode(value: unknown): string | undefined {
  return typeof value === 'string' && ERROR_CODE.test(value) ? value : undefined;
}
