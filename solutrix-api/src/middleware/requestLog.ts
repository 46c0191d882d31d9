import type { RequestHandler } from 'express';
import type { Logger } from 'pino';
import { pathOnly } from '../../../lib/log.ts';

/** One line per request: method, path without query, status, latency. Never headers or bodies. */
export function requestLog(log: Logger): RequestHandler {
  return (req, res, next) => {
    const started = process.hrtime.bigint();
    let logged = false;
    const done = () => {
      if (logged) return;
      logged = true;
      log.info({
        method: req.method,
        path: pathOnly(req.originalUrl),
        status: res.writableFinished ? res.statusCode : 499, // 499: the client went away first
        ms: Math.round(Number(process.hrtime.bigint() - started) / 1e5) / 10,
      }, 'request');
    };
    res.once('finish', done);
    res.once('close', done);
    next();
  };
}
