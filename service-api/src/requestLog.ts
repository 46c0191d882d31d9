import type { RequestHandler } from 'express';
import type { Logger } from 'pino';
import { pathOnly } from '../../lib/log.ts';

/** One line per request: method, path without query, status, latency. No headers, so no tokens. */
export function requestLog(log: Logger): RequestHandler {
  return (req, res, next) => {
    const started = process.hrtime.bigint();
    res.on('close', () => {
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      log.info(
        { method: req.method, path: pathOnly(req.originalUrl), status: res.statusCode, ms: Math.round(ms * 10) / 10, ...(res.writableFinished ? {} : { aborted: true }) },
        'request',
      );
    });
    next();
  };
}
