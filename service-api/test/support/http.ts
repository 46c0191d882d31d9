import { createServer, request, type RequestListener, type Server } from 'node:http';

type RawHeaders = Record<string, string | string[]>;
import { close, listen } from '../../../lib/server.ts';

export type RawResponse = { status: number; headers: Record<string, string | string[] | undefined>; body: string };

/** Serves `handler` on 127.0.0.1:0; returns its base URL and a stop function. */
export async function serve(handler: RequestListener): Promise<{ baseUrl: string; server: Server; stop: () => Promise<void> }> {
  const server = createServer(handler);
  const port = await listen(server, 0, '127.0.0.1');
  return {
    baseUrl: `http://127.0.0.1:${port}`,
    server,
    stop: async () => {
      server.closeAllConnections();
      await close(server);
    },
  };
}

/**
 * A request through node:http rather than fetch, which folds repeated headers into one; an array
 * value here goes out as repeated header lines.
 */
export function rawGet(url: string, headers: RawHeaders): Promise<RawResponse> {
  return rawRequest(url, { method: 'GET', headers });
}

export function rawRequest(url: string, { method, headers, body }: { method: string; headers: RawHeaders; body?: string }): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method, headers }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end(body);
  });
}
