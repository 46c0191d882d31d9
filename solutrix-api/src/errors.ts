/**
 * Solutrix's own failures, one class per kind, each with a stable `code` (jose's habit). Failures of
 * the IDP are the IdpError classes of security/idpError.ts. Messages of these classes are safe to show:
 * the error middleware (middleware/errorHandler.ts) is the one place that turns them into HTTP.
 */
export abstract class SolutrixError extends Error {
  abstract readonly code: string;
}

export class NotFound extends SolutrixError {
  static readonly code = 'ERR_NOT_FOUND';
  override readonly name = 'NotFound';
  readonly code = NotFound.code;
  constructor() {
    super('no such route');
  }
}

/** The Service API is down, timed out or answered 503. */
export class ServiceApiUnavailable extends SolutrixError {
  static readonly code = 'ERR_SERVICE_API_UNAVAILABLE';
  override readonly name = 'ServiceApiUnavailable';
  readonly code = ServiceApiUnavailable.code;
  constructor(
    message: string,
    /** From the Service API's own `Retry-After`, when it sent one. */
    readonly retryAfterSeconds?: number,
  ) {
    super(message);
  }
}

/** The Service API answered, but not with something we can pass on (a 4xx, invalid JSON, …). */
export class ServiceApiFailed extends SolutrixError {
  static readonly code = 'ERR_SERVICE_API_RESPONSE';
  override readonly name = 'ServiceApiFailed';
  readonly code = ServiceApiFailed.code;
  constructor(
    message: string,
    readonly upstreamStatus: number,
  ) {
    super(message);
  }
}

/** A sign-in that cannot go on (unknown state, refused code); the message is for the person. */
export class LoginFailed extends SolutrixError {
  static readonly code = 'ERR_LOGIN_FAILED';
  override readonly name = 'LoginFailed';
  readonly code = LoginFailed.code;
}

/** A state-changing request that did not come from our own page (CSRF check). */
export class CrossSiteRequest extends SolutrixError {
  static readonly code = 'ERR_CROSS_SITE_REQUEST';
  override readonly name = 'CrossSiteRequest';
  readonly code = CrossSiteRequest.code;
}

/** The refresh token was refused (revoked, expired, user gone): the user must sign in again. */
export class SessionExpired extends SolutrixError {
  static readonly code = 'ERR_SESSION_EXPIRED';
  override readonly name = 'SessionExpired';
  readonly code = SessionExpired.code;
}
