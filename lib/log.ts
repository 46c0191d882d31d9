import type { IncomingMessage, ServerResponse } from 'node:http';
import { pino, type Logger } from 'pino';
import type { LogLevel } from './env.ts';
import { activeTraceFields } from './tracing.ts';

/**
 * One structured logger per process. Request logs carry method, path (never the query string, which
 * may hold codes or tokens), status and latency — never headers or bodies.
 */
export function createLogger(service: string, level: LogLevel): Logger {
  return pino({
    name: service,
    level,
    base: { service },
    // With tracing on (lib/tracing.ts preloaded), each line names its trace and span.
    ...(activeTraceFields === undefined ? {} : { mixin: activeTraceFields }),
    redact: {
      paths: ['req.headers.authorization', 'req.headers.cookie', '*.client_secret', '*.access_token', '*.password', '*.token'],
      censor: '[redacted]',
    },
  });
}

/**
 * One line per request, written when its response ends: method, path without the query, status,
 * latency in ms, and `aborted: true` when the client went away first; at `error` level for a 5xx.
 * Node-level, so koa and express log the same line: call it first, before a router or a mount
 * rewrites `req.url`.
 */
export function logRequest(log: Logger, req: IncomingMessage, res: ServerResponse): void {
  const started = performance.now();
  const method = req.method;
  const path = pathOnly(req.url ?? '');
  let logged = false;
  const done = () => {
    if (logged) return;
    logged = true;
    const status = res.statusCode;
    const ms = Math.round((performance.now() - started) * 10) / 10;
    log[status >= 500 ? 'error' : 'info']({ method, path, status, ms, ...(res.writableFinished ? {} : { aborted: true }) }, 'request');
  };
  res.once('finish', done);
  res.once('close', done);
}

/** The path of a request URL without its query string. */
function pathOnly(url: string): string {
  const q = url.indexOf('?');
  return q === -1 ? url : url.slice(0, q);
}
