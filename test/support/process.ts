import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { waitForHealthy } from '../../lib/http.ts';

export { waitForHealthy };

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** A port that was free a moment ago (the OS picks it). */
export async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  server.close();
  await once(server, 'close');
  return port;
}

export type Service = {
  origin: string;
  port: number;
  child: ChildProcess;
  /** Everything the process printed so far. */
  output(): string;
  stop(signal?: NodeJS.Signals): Promise<void>;
};

/** Starts `src/main.ts` of a service as a real process on a free port and waits for /healthz. */
export async function startService(entry: string, env: Record<string, string>, port?: number): Promise<Service> {
  port ??= await freePort();
  const child = spawn(process.execPath, ['--import', 'tsx', '--import', './lib/tracing.ts', entry], {
    cwd: ROOT,
    env: { ...process.env, LOG_LEVEL: process.env.SERVICE_LOG_LEVEL ?? 'info', ...env, PORT: String(port), HOST: '127.0.0.1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.on('data', (chunk) => (output += chunk));
  child.stderr!.on('data', (chunk) => (output += chunk));
  const origin = `http://127.0.0.1:${port}`;
  try {
    await waitForHealthy(`${origin}/healthz`, child);
  } catch (err) {
    child.kill('SIGKILL');
    throw new Error(`${entry}: ${(err as Error).message}\n${output}`);
  }
  return {
    origin,
    port,
    child,
    output: () => output,
    async stop(signal = 'SIGTERM') {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = once(child, 'exit');
      child.kill(signal);
      await exited;
    },
  };
}
