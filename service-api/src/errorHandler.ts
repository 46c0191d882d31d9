import type { ErrorRequestHandler, RequestHandler } from 'express';
import type { Logger } from 'pino';

export const notFound: RequestHandler = (_req, res) => {
  res.status(404).json({ error: 'not_found' });
};

/**
 * Registered last. Client mistakes the body parser reports (malformed JSON, body too large) keep their
 * 4xx as `invalid_request`; anything else is logged and answered `server_error` without internals.
 */
export function errorHandler(log: Logger): ErrorRequestHandler {
  return (err: unknown, _req, res, next) => {
    if (res.headersSent) return next(err);
    const status = clientErrorStatus(err);
    if (status !== undefined) {
      res.status(status).json({ error: 'invalid_request', error_description: 'the request could not be parsed' });
      return;
    }
    log.error({ err }, 'unhandled error');
    res.status(500).json({ error: 'server_error' });
  };
}

/** http-errors (used by express's body parsers) mark safe-to-show client errors with `expose`. */
function clientErrorStatus(err: unknown): number | undefined {
  if (typeof err !== 'object' || err === null) return undefined;
  const { status, expose } = err as { status?: unknown; expose?: unknown };
  return typeof status === 'number' && status >= 400 && status < 500 && expose === true ? status : undefined;
}
