import { once } from 'node:events';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';

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
