import { pino, type Logger } from 'pino';

/**
 * One structured logger per process. Request logs carry method, path (never the query string, which
 * may hold codes or tokens), status and latency — never headers or bodies.
 */
export function createLogger(service: string): Logger {
  return pino({
    name: service,
    level: process.env.LOG_LEVEL ?? 'info',
    base: { service },
    redact: {
      paths: ['req.headers.authorization', 'req.headers.cookie', '*.client_secret', '*.access_token', '*.password', '*.token'],
      censor: '[redacted]',
    },
  });
}

/** The path of a request URL without its query string. */
export function pathOnly(url: string): string {
  const q = url.indexOf('?');
  return q === -1 ? url : url.slice(0, q);
}
