import type { ErrorRequestHandler, RequestHandler } from 'express';
import type { Logger } from 'pino';
import { NotFound, TemporarilyUnavailable, toHttpError } from '../errors.ts';

/** Registered after every router: unknown routes get a JSON 404. */
export const notFound: RequestHandler = (_req, _res, next) => next(new NotFound());

/**
 * Registered last. Known errors answer with their own body; anything else is a bare
 * `{"error":"server_error"}`. Errors are logged by name and message only: openid-client errors can
 * carry whole token responses as `cause`.
 */
export function errorHandler(log: Logger): ErrorRequestHandler {
  return (err: unknown, _req, res, next) => {
    if (res.headersSent) return next(err);
    const httpError = toHttpError(err);
    if (httpError !== undefined) {
      if (httpError.status >= 500) log.warn({ error: httpError.error, reason: describe(err) }, 'upstream failure');
      if (httpError instanceof TemporarilyUnavailable) res.set('Retry-After', httpError.retryAfter);
      res.status(httpError.status).json(httpError.body());
      return;
    }
    // Errors raised by express itself (e.g. a malformed path) carry a 4xx status.
    const status = (err as { status?: unknown } | null)?.status;
    if (typeof status === 'number' && status >= 400 && status < 500) {
      res.status(status).json({ error: 'invalid_request' });
      return;
    }
    log.error({ err: { type: err instanceof Error ? err.name : typeof err, message: describe(err), stack: err instanceof Error ? err.stack : undefined } }, 'unhandled error');
    res.status(500).json({ error: 'server_error' });
  };
}

function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
