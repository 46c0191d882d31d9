import type { ErrorRequestHandler, RequestHandler, Response } from 'express';
import type { Logger } from 'pino';
import { CrossSiteRequest, LoginFailed, NotFound, ServiceApiFailed, ServiceApiUnavailable } from '../errors.ts';
import { IdpInvalidResponse, IdpRejected, IdpUnavailable, type IdpOperation } from '../security/idpError.ts';

/** Seconds a caller should wait when we answer 503 and nobody upstream said otherwise. */
export const DEFAULT_RETRY_AFTER_S = 5;

/** What an error becomes on the wire: status, RFC 6749-shaped body fields, Retry-After. */
export interface HttpProblem {
  status: number;
  error: string;
  errorDescription?: string;
  upstreamStatus?: number;
  /** delay-seconds, sent with every 503. */
  retryAfter?: string;
}

/** How the IDP's refusal or unusable answer is named, per request. */
const IDP_WORDING: Record<IdpOperation, { refused: string; unusable: string }> = {
  discovery: { refused: 'discovery request', unusable: 'discovery' },
  'token request': { refused: 'service token request', unusable: 'token' },
  'code exchange': { refused: 'authorization code', unusable: 'token' },
  refresh: { refused: 'refresh token', unusable: 'token' },
  userinfo: { refused: 'userinfo request', unusable: 'userinfo' },
  revocation: { refused: 'revocation request', unusable: 'revocation' },
};

const unavailable = (description: string, retryAfterSeconds: number | undefined): HttpProblem => ({
  status: 503,
  error: 'temporarily_unavailable',
  errorDescription: description,
  retryAfter: String(retryAfterSeconds ?? DEFAULT_RETRY_AFTER_S),
});

const upstream = (description: string, upstreamStatus: number | undefined): HttpProblem => ({
  status: 502,
  error: 'upstream_error',
  errorDescription: description,
  ...(upstreamStatus === undefined ? {} : { upstreamStatus }),
});

/**
 * The one translation of Solutrix's errors (errors.ts) and the IDP's (security/idpError.ts) to HTTP.
 * Anything else is `undefined`: the caller answers 500 without details.
 */
export function toHttpProblem(err: unknown): HttpProblem | undefined {
  if (err instanceof NotFound) return { status: 404, error: 'not_found' };
  if (err instanceof ServiceApiUnavailable) return unavailable(err.message, err.retryAfterSeconds);
  if (err instanceof ServiceApiFailed) return upstream(err.message, err.upstreamStatus);
  if (err instanceof IdpUnavailable) return unavailable('the identity provider is unavailable', err.retryAfterSeconds);
  if (err instanceof IdpRejected) {
    const code = err.idpError === undefined ? '' : ` (${err.idpError})`;
    return upstream(`the identity provider refused the ${IDP_WORDING[err.operation].refused}${code}`, err.idpStatus);
  }
  if (err instanceof IdpInvalidResponse) {
    return upstream(`the identity provider sent an unusable ${IDP_WORDING[err.operation].unusable} response`, err.idpStatus);
  }
  if (err instanceof LoginFailed) return { status: 400, error: 'login_failed', errorDescription: err.message };
  if (err instanceof CrossSiteRequest) return { status: 403, error: 'forbidden', errorDescription: err.message };
  return undefined;
}

/** The JSON body of a problem: `error`, `error_description`, `upstream_status` (protocol names on the wire). */
export function problemBody(problem: HttpProblem): Record<string, unknown> {
  return {
    error: problem.error,
    ...(problem.errorDescription === undefined ? {} : { error_description: problem.errorDescription }),
    ...(problem.upstreamStatus === undefined ? {} : { upstream_status: problem.upstreamStatus }),
  };
}

/** Writes a problem's body (status and Retry-After are already set). */
export type ProblemRenderer = (res: Response, problem: HttpProblem) => void;

const sendJson: ProblemRenderer = (res, problem) => void res.json(problemBody(problem));

/** Registered after every router: unknown routes get a JSON 404. */
export const notFound: RequestHandler = (_req, _res, next) => next(new NotFound());

/**
 * Registered last (the web pages register it with an HTML renderer). Known errors answer per
 * toHttpProblem; express's own 4xx (a malformed path, a body too large) is `invalid_request`;
 * anything else is a bare `server_error`. Errors are logged by name and message only:
 * openid-client errors can carry whole token responses as `cause`.
 */
export function errorHandler(log: Logger, render: ProblemRenderer = sendJson): ErrorRequestHandler {
  return (err: unknown, _req, res, next) => {
    if (res.headersSent) return next(err);
    let problem = toHttpProblem(err);
    if (problem !== undefined) {
      if (problem.status >= 500) log.warn({ error: problem.error, code: (err as { code?: unknown }).code, reason: describe(err) }, 'upstream failure');
    } else {
      const status = (err as { status?: unknown } | null)?.status;
      if (typeof status === 'number' && status >= 400 && status < 500) {
        problem = { status, error: 'invalid_request' };
      } else {
        log.error({ err: { type: err instanceof Error ? err.name : typeof err, message: describe(err), stack: err instanceof Error ? err.stack : undefined } }, 'unhandled error');
        problem = { status: 500, error: 'server_error' };
      }
    }
    res.status(problem.status);
    if (problem.retryAfter !== undefined) res.set('Retry-After', problem.retryAfter);
    render(res, problem);
  };
}

function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
