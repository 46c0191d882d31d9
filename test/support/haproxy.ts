import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './process.ts';
import { poll } from './wait.ts';

/** Where Debian's `haproxy` package puts it; HAPROXY_BIN overrides. */
export const HAPROXY_BIN = process.env.HAPROXY_BIN ?? '/usr/sbin/haproxy';

export type TestProxy = { origin: string; port: number; output(): string; stop(): Promise<void> };

/**
 * A local HAProxy on a free loopback port, round-robin over `backends` (origins), naming the backend
 * that answered in `X-Upstream` as compose.scale.yaml's proxy does. Undefined when HAProxy is not
 * installed (`apt-get install -y haproxy`).
 */
export async function startHaproxy(backends: string[]): Promise<TestProxy | undefined> {
  if (!existsSync(HAPROXY_BIN)) return undefined;
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'haproxy-test-'));
  const config = join(dir, 'haproxy.cfg');
  writeFileSync(
    config,
    [
      'global',
      '  maxconn 512',
      'defaults',
      '  mode http',
      '  timeout connect 1s',
      '  timeout client 30s',
      '  timeout server 30s',
      'frontend idp',
      `  bind 127.0.0.1:${port}`,
      '  default_backend replicas',
      'backend replicas',
      '  balance roundrobin',
      ...backends.map((origin, i) => `  server r${i} ${new URL(origin).host}`),
      '  http-response set-header X-Upstream %[srv_name]',
      '',
    ].join('\n'),
  );
  const child = spawn(HAPROXY_BIN, ['-db', '-f', config], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (chunk) => (output += chunk));
  child.stderr.on('data', (chunk) => (output += chunk));
  const origin = `http://127.0.0.1:${port}`;
  const up = await poll(
    () => fetch(`${origin}/healthz`).then((res) => res.ok, () => false),
    (ok) => ok || child.exitCode !== null,
    { timeoutMs: 5000, intervalMs: 50 },
  );
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    }
    rmSync(dir, { recursive: true, force: true });
  };
  if (!up) {
    await stop();
    throw new Error(`haproxy did not answer on ${origin}:\n${output}`);
  }
  return { origin, port, output: () => output, stop };
}
