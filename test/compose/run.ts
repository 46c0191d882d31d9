// Small process and timing helpers for the compose smoke test. Every command is bounded in time.
import { spawn, type SpawnOptions } from 'node:child_process';

export type RunOptions = {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** Kill the command (SIGTERM, then SIGKILL) after this long. */
  timeoutMs: number;
  /** Stream the command's output to this process's stderr, prefixed. */
  echo?: string;
  /** Bytes to write to the command's standard input. */
  input?: string;
};

export type RunResult = { code: number; stdout: string; stderr: string };

/** Runs a command; resolves with its output whatever the exit code; rejects only on timeout or spawn failure. */
export function run(command: string, args: readonly string[], options: RunOptions): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const spawnOptions: SpawnOptions = { cwd: options.cwd, env: options.env ?? process.env, stdio: [options.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] };
    const child = spawn(command, args, spawnOptions);
    let stdout = '';
    let stderr = '';
    const keep = (current: string, chunk: Buffer) => (current + chunk.toString()).slice(-1_000_000);
    const echo = (chunk: Buffer) => {
      if (options.echo === undefined) return;
      for (const line of chunk.toString().split('\n')) if (line) process.stderr.write(`${options.echo}${line}\n`);
    };
    child.stdout!.on('data', (chunk: Buffer) => ((stdout = keep(stdout, chunk)), echo(chunk)));
    child.stderr!.on('data', (chunk: Buffer) => ((stderr = keep(stderr, chunk)), echo(chunk)));
    if (child.stdin) {
      child.stdin.on('error', () => {}); // a command that does not read its input
      child.stdin.end(options.input);
    }
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGTERM');
      setTimeout(() => child.kill('SIGKILL'), 5000).unref();
    }, options.timeoutMs);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (timedOut) reject(new Error(`${command} ${args.join(' ')}: timed out after ${options.timeoutMs / 1000} s`));
      else resolve({ code: code ?? (signal ? 128 : 1), stdout, stderr });
    });
  });
}

/** Like run(), but rejects with the command's stderr when it exits non-zero. */
export async function runOk(command: string, args: readonly string[], options: RunOptions): Promise<RunResult> {
  const result = await run(command, args, options);
  if (result.code !== 0) {
    const tail = (result.stderr || result.stdout).trim().split('\n').slice(-15).join('\n');
    throw new Error(`${command} ${args.join(' ')} exited ${result.code}\n${tail}`);
  }
  return result;
}

/** True if the command can be spawned at all (exists on PATH). */
export async function hasCommand(command: string): Promise<boolean> {
  try {
    return (await run('sh', ['-c', `command -v ${command}`], { timeoutMs: 5000 })).code === 0;
  } catch {
    return false;
  }
}

/** Rejects if the promise has not settled after `ms`. The work itself is not cancelled. */
export async function withTimeout<T>(what: string, ms: number, promise: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer after ${ms / 1000} s`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Records how long each phase took, for the summary at the end. */
export class Timings {
  readonly rows: { name: string; seconds: number; ok: boolean }[] = [];

  async phase<T>(name: string, fn: () => Promise<T>): Promise<T> {
    const started = performance.now();
    console.log(`\n== ${name}`);
    let ok = false;
    try {
      const value = await fn();
      ok = true;
      return value;
    } finally {
      const seconds = (performance.now() - started) / 1000;
      this.rows.push({ name, seconds, ok });
      console.log(`== ${name}: ${ok ? 'ok' : 'FAILED'} in ${seconds.toFixed(1)} s`);
    }
  }

  summary(): string {
    const width = Math.max(...this.rows.map((r) => r.name.length), 5);
    const total = this.rows.reduce((sum, r) => sum + r.seconds, 0);
    return [
      ...this.rows.map((r) => `  ${r.name.padEnd(width)}  ${r.seconds.toFixed(1).padStart(6)} s  ${r.ok ? 'ok' : 'FAILED'}`),
      `  ${'total'.padEnd(width)}  ${total.toFixed(1).padStart(6)} s`,
    ].join('\n');
  }
}
