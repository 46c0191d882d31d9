import { once } from 'node:events';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import { logRequest } from './log.ts';

/**
 * Every service's first middleware: the request line (lib/log.ts) and the default headers
 * (lib/headers.ts). Node-level, so express takes it as it is (`app.use(...)`) and koa calls it with
 * `ctx.req, ctx.res`; a page renderer may replace the CSP later.
 */
export function requestLogAndHeaders(log: Logger, headers: Readonly<Record<string, string>>) {
  const entries = Object.entries(headers);
  return (req: IncomingMessage, res: ServerResponse, next?: () => void): void => {
    logRequest(log, req, res);
    for (const [name, value] of entries) res.setHeader(name, value);
    next?.();
  };
}

/** Listens, then returns the actual port (tests pass 0). */
export async function listen(server: Server, port: number, host?: string): Promise<number> {
  server.listen(port, host);
  await once(server, 'listening');
  return (server.address() as AddressInfo).port;
}

/** Stops accepting connections and closes idle keep-alive sockets so the process can exit. */
export async function close(server: Server): Promise<void> {
  const closed = new Promise<void>((resolve, reject) => server.close((err) => (err ? reject(err) : resolve())));
  server.closeIdleConnections();
  await closed;
}

/** SIGTERM / SIGINT: close the server, run cleanup, exit. A second signal exits at once. */
export function exitOnSignal(server: Server, log: Logger, cleanup: () => void | Promise<void> = () => {}): void {
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) process.exit(1);
    stopping = true;
    log.info({ signal }, 'shutting down');
    const timer = setTimeout(() => process.exit(0), 5000).unref();
    server.closeAllConnections();
    close(server)
      .then(cleanup)
      .then(() => {
        clearTimeout(timer);
        process.exit(0);
      }, (err: unknown) => {
        log.error({ err }, 'shutdown failed');
        process.exit(1);
      });
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}
