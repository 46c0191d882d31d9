import { settings } from './config.ts';
import { fork, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { ROOT } from '../test/support/process.ts';

/** How a child's stdout is wired: discarded (/dev/null), or a pipe the parent drains (as `npm start` does). */
export type Stdout = 'ignore' | 'pipe';

export type Child<Ready> = {
  ready: Ready;
  process: ChildProcess;
  /** Lines the child printed (only with stdout 'pipe' and `keepOutput`). */
  output(): string;
  call<T>(cmd: string, args?: unknown): Promise<T>;
  stop(): Promise<void>;
};

/**
 * Forks a benchmark server (`bench/*Server.ts`) under tsx with an IPC channel. The child sends
 * `{ type: 'ready', ... }` once listening and answers `{ id, cmd, args }` with `{ id, result | error }`.
 */
export async function startChild<Ready>(
  entry: string,
  env: Record<string, string>,
  { stdout = 'ignore', keepOutput = false, execArgv = [] as string[], timeoutMs = 60_000 } = {},
): Promise<Child<Ready>> {
  const child = fork(fileURLToPath(new URL(entry, import.meta.url)), [], {
    cwd: ROOT,
    execArgv: ['--import', 'tsx', ...(settings.cpuProfileDir ? ['--cpu-prof', `--cpu-prof-dir=${settings.cpuProfileDir}`] : []), ...execArgv],
    env: { ...process.env, ...env },
    stdio: ['ignore', stdout === 'pipe' ? 'pipe' : 'ignore', 'pipe', 'ipc'],
  });
  let output = '';
  let stderr = '';
  // Drained always: a full pipe would block the child's synchronous log writes.
  child.stdout?.on('data', (chunk: Buffer) => {
    if (keepOutput) output += chunk;
  });
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk));
  const pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  let nextId = 1;
  const ready = new Promise<Ready>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${entry} not ready after ${timeoutMs} ms\n${stderr}`)), timeoutMs);
    child.on('message', (message: { type?: string; id?: number; result?: unknown; error?: string }) => {
      if (message.type === 'ready') {
        clearTimeout(timer);
        resolve(message as Ready);
      } else if (message.id !== undefined) {
        const call = pending.get(message.id);
        pending.delete(message.id);
        if (message.error !== undefined) call?.reject(new Error(message.error));
        else call?.resolve(message.result);
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${entry} exited (${code})\n${stderr}`));
      for (const call of pending.values()) call.reject(new Error(`${entry} exited (${code})`));
    });
  });
  return {
    ready: await ready,
    process: child,
    output: () => output,
    call<T>(cmd: string, args?: unknown) {
      const id = nextId++;
      child.send({ id, cmd, args });
      return new Promise<T>((resolve, reject) => pending.set(id, { resolve: resolve as (v: unknown) => void, reject }));
    },
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = once(child, 'exit');
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** User + system CPU time this process has used, µs: benchmarks divide its growth by the requests served. */
const cpuMicros = () => {
  const { user, system } = process.cpuUsage();
  return user + system;
};

/** The child side: announce readiness and serve commands (plus `cpu`, see cpuMicros). */
export function serveCommands(ready: Record<string, unknown>, commands: Record<string, (args: any) => unknown>): void {
  process.on('message', async (message: { id: number; cmd: string; args: unknown }) => {
    try {
      const handler = message.cmd === 'cpu' ? cpuMicros : commands[message.cmd];
      if (!handler) throw new Error(`unknown command ${message.cmd}`);
      process.send!({ id: message.id, result: await handler(message.args) });
    } catch (err) {
      process.send!({ id: message.id, error: (err as Error).stack ?? String(err) });
    }
  });
  process.on('SIGTERM', () => process.exit(0));
  process.send!({ type: 'ready', ...ready });
}
