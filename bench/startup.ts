// Phase 5: `npm start` (tsx scripts/start.ts) until it prints "Stack ready", cold (fresh data dir) and warm.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, ROOT } from '../test/support/process.ts';

export type StartupResult = {
  seconds: number;
  reported: number | undefined;
  /** Seconds from spawn until each milestone line appeared (where the time goes). */
  milestones: Record<string, number>;
};

const MILESTONES: [string, RegExp][] = [
  ['idp listening', /idp\s*\|.*idp listening/],
  ['service-api listening', /service-api listening/],
  ['solutrix-api listening', /solutrix-api listening/],
];

async function startOnce(env: Record<string, string>, timeoutMs = 60_000): Promise<StartupResult> {
  const started = performance.now();
  // detached: its own process group, so the stack (tsx → node → services) is stopped as one.
  const child = spawn(join(ROOT, 'node_modules/.bin/tsx'), ['scripts/start.ts'], {
    cwd: ROOT,
    env: { ...process.env, ...env, LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  let output = '';
  const milestones: Record<string, number> = {};
  const exited = once(child, 'exit');
  try {
    return await new Promise<StartupResult>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no "Stack ready" after ${timeoutMs} ms:\n${output.slice(-2000)}`)), timeoutMs);
      const onData = (chunk: Buffer) => {
        output += chunk;
        const at = (performance.now() - started) / 1000;
        for (const [name, pattern] of MILESTONES) if (milestones[name] === undefined && pattern.test(output)) milestones[name] = +at.toFixed(2);
        if (/seed\s*\|/.test(String(chunk))) milestones['seed done'] = +at.toFixed(2); // its last line
        const match = /Stack ready in ([\d.]+) s/.exec(output);
        if (match) {
          clearTimeout(timer);
          resolve({ seconds: (performance.now() - started) / 1000, reported: Number(match[1]), milestones });
        }
      };
      child.stdout!.on('data', onData);
      child.stderr!.on('data', (chunk: Buffer) => (output += chunk));
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`start.ts exited (${code}) before "Stack ready":\n${output.slice(-2000)}`));
      });
    });
  } finally {
    if (child.exitCode === null && child.signalCode === null) {
      process.kill(-child.pid!, 'SIGTERM');
      const timer = setTimeout(() => process.kill(-child.pid!, 'SIGKILL'), 8000);
      await exited;
      clearTimeout(timer);
    }
  }
}

export async function benchStartup(): Promise<{ cold: StartupResult; warm: StartupResult }> {
  const dir = mkdtempSync(join(tmpdir(), 'bench-start-'));
  const env = {
    IDP_PORT: String(await freePort()),
    SERVICE_API_PORT: String(await freePort()),
    SOLUTRIX_PORT: String(await freePort()),
    IDP_DATA_DIR: join(dir, 'idp'),
    SEED_CREDENTIALS_DIR: join(dir, 'credentials'),
  };
  const cold = await startOnce(env);
  const warm = await startOnce(env);
  return { cold, warm };
}
