import { connect, type Socket } from 'node:net';
import { once } from 'node:events';

/**
 * `n` requests that are really concurrent: opens `n` loopback connections first, then writes every
 * request in the same tick, so none of them can be answered before the last one is sent. Returns
 * the count of each status code. Bounded by `timeoutMs`.
 */
export async function burst(port: number, path: string, headers: Record<string, string>, n: number, timeoutMs = 30_000): Promise<Record<number, number>> {
  const sockets: Socket[] = [];
  try {
    for (let i = 0; i < n; i += 100) {
      const batch = Array.from({ length: Math.min(100, n - i) }, () => connect(port, '127.0.0.1'));
      await Promise.all(batch.map((s) => once(s, 'connect')));
      sockets.push(...batch);
    }
    const head = [`GET ${path} HTTP/1.1`, 'Host: 127.0.0.1', 'Connection: close', ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`), '', ''].join('\r\n');
    const answers = sockets.map(
      (socket) =>
        new Promise<number>((resolve) => {
          let data = '';
          socket.setEncoding('latin1');
          socket.on('data', (chunk: string) => (data += chunk));
          socket.on('error', () => resolve(0));
          socket.on('close', () => resolve(Number(/^HTTP\/1\.1 (\d{3})/.exec(data)?.[1] ?? 0)));
        }),
    );
    for (const socket of sockets) socket.write(head);
    let timer: NodeJS.Timeout | undefined;
    const statuses = await Promise.race([
      Promise.all(answers),
      new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`burst of ${n} not answered in ${timeoutMs} ms`)), timeoutMs))),
    ]);
    clearTimeout(timer);
    const counts: Record<number, number> = {};
    for (const status of statuses) counts[status] = (counts[status] ?? 0) + 1;
    return counts;
  } finally {
    for (const socket of sockets) socket.destroy();
  }
}
