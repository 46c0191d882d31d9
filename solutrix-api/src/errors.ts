import { ServiceTokenError } from './security/serviceToken.ts';

/** Seconds a caller should wait when we answer 503 and nobody upstream said otherwise. */
export const DEFAULT_RETRY_AFTER_S = 5;

/** A protocol error with its wire representation (`error`, `error_description`). */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly error: string,
    readonly errorDescription?: string,
  ) {
    super(errorDescription ?? error);
  }

  body(): Record<string, unknown> {
    return this.errorDescription === undefined
      ? { error: this.error }
      : { error: this.error, error_description: this.errorDescription };
  }
}

export class NotFound extends HttpError {
  override readonly name = 'NotFound';
  constructor() {
    super(404, 'not_found');
  }
}

/** 503: an upstream (IDP or Service API) is down or timed out; sent with Retry-After. */
export class TemporarilyUnavailable extends HttpError {
  override readonly name = 'TemporarilyUnavailable';
  constructor(
    description: string,
    readonly retryAfter: string = String(DEFAULT_RETRY_AFTER_S),
  ) {
    super(503, 'temporarily_unavailable', description);
  }
}

/** 502: an upstream answered, but not with something we can pass on. */
export class UpstreamError extends HttpError {
  override readonly name = 'UpstreamError';
  constructor(
    description: string,
    readonly upstreamStatus?: number,
  ) {
    super(502, 'upstream_error', description);
  }

  override body(): Record<string, unknown> {
    return this.upstreamStatus === undefined ? super.body() : { ...super.body(), upstream_status: this.upstreamStatus };
  }
}

/** Maps anything thrown to the error we answer with; unknown errors become `undefined` (→ 500). */
export function toHttpError(err: unknown): HttpError | undefined {
  if (err instanceof HttpError) return err;
  if (err instanceof ServiceTokenError) {
    if (err.reason === 'unavailable') {
      return new TemporarilyUnavailable(
        'the identity provider is unavailable',
        String(err.retryAfterSeconds ?? DEFAULT_RETRY_AFTER_S),
      );
    }
    return new UpstreamError(
      err.reason === 'rejected'
        ? `the identity provider refused the service token request${err.idpError === undefined ? '' : ` (${err.idpError})`}`
        : 'the identity provider sent an unusable token response',
      err.idpStatus,
    );
  }
  return undefined;
}
