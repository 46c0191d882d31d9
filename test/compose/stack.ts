// Drives compose.yaml through the `docker-compose` npm package (Compose v1 standalone binary here,
// `docker compose` v2 with SMOKE_COMPOSE_V2=1), and speaks HTTP to the published ports.
import compose, { type IDockerComposeOptions, type IDockerComposeResult } from 'docker-compose';
import { poll } from '../support/wait.ts';
import { run, withTimeout } from './run.ts';

export const SERVICES = ['idp', 'seed', 'service-api', 'solutrix-api'] as const;
export const LONG_RUNNING = ['idp', 'service-api', 'solutrix-api'] as const;

export class Stack {
  constructor(
    private readonly root: string,
    readonly project: string,
    private readonly env: NodeJS.ProcessEnv,
    /** Compose files (`-f`, in order); unset: compose.yaml found by Compose itself. */
    private readonly files?: string[],
    /** What waitHealthy() and logs() look at: one-shot services must exit 0, the others be healthy. */
    readonly services: { longRunning: readonly string[]; oneShot: readonly string[] } = { longRunning: LONG_RUNNING, oneShot: ['seed'] },
  ) {}

  private options(extra: Partial<IDockerComposeOptions> = {}): IDockerComposeOptions {
    return {
      cwd: this.root,
      executable: process.env.SMOKE_COMPOSE_V2 === '1' ? { executablePath: 'docker', options: [] } : { standalone: true },
      composeOptions: [['--project-name', this.project]],
      env: { ...process.env, ...this.env },
      log: false,
      ...(this.files ? { config: this.files } : {}),
      ...extra,
    };
  }

  /** docker-compose's failures are plain `{ exitCode, out, err }` objects: make them Errors. */
  private async call<T extends IDockerComposeResult>(what: string, ms: number, op: Promise<T>): Promise<T> {
    try {
      return await withTimeout(what, ms, op);
    } catch (err) {
      if (err instanceof Error) throw err;
      const failed = err as IDockerComposeResult;
      const tail = `${failed.err ?? ''}\n${failed.out ?? ''}`.trim().split('\n').slice(-20).join('\n');
      throw new Error(`${what} exited ${failed.exitCode}\n${tail}`);
    }
  }

  /** `up -d --no-build`: v1.29 waits for the depends_on conditions (seed done, IDP healthy) itself. */
  up(ms = 240_000) {
    return this.call('compose up', ms, compose.upAll(this.options({ commandOptions: ['--no-build'] })));
  }

  down(removeVolumes: boolean, ms = 120_000) {
    const commandOptions = removeVolumes ? ['--volumes', '--remove-orphans'] : ['--remove-orphans'];
    return this.call('compose down', ms, compose.down(this.options({ commandOptions })));
  }

  async logs(services: readonly string[] = [...this.services.longRunning, ...this.services.oneShot], ms = 60_000): Promise<string> {
    const result = await this.call('compose logs', ms, compose.logs([...services], this.options({ commandOptions: ['--no-color'] })));
    return result.out;
  }

  async exec(service: string, command: string[], ms = 60_000): Promise<string> {
    const result = await this.call(`compose exec ${service}`, ms, compose.exec(service, command, this.options()));
    return result.out;
  }

  /** Runs a one-off container of a service (`run --rm --no-deps`; the package adds -T, as it does for exec). */
  async runOnce(service: string, command: string[], ms = 120_000): Promise<string> {
    const result = await this.call(`compose run ${service}`, ms, compose.run(service, command, this.options({ commandOptions: ['--rm', '--no-deps'] })));
    return result.out;
  }

  /** Container id of a service, through `ps -q` (the same in v1 and v2). */
  async containerId(service: string): Promise<string | undefined> {
    const result = await this.call('compose ps', 30_000, compose.execCompose('ps', ['-q', service], this.options()));
    return result.out.trim() || undefined;
  }

  /** Polls each container's health (and the seed's exit code) until all are healthy, bounded in time. */
  async waitHealthy(ms = 120_000): Promise<void> {
    let last = '';
    const healthy = await poll(async () => {
      const states: string[] = [];
      let all = true;
      for (const service of [...this.services.longRunning, ...this.services.oneShot]) {
        const id = await this.containerId(service);
        if (!id) {
          states.push(`${service}=missing`);
          all = false;
          continue;
        }
        const format = '{{.State.Status}} {{.State.ExitCode}} {{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}}';
        const inspected = await run('docker', ['inspect', '--format', format, id], { timeoutMs: 30_000 });
        const [status, exitCode, health] = inspected.stdout.trim().split(' ');
        states.push(`${service}=${status}/${health}`);
        if (this.services.oneShot.includes(service)) {
          if (status === 'exited' && exitCode !== '0') throw new Error(`${service} exited ${exitCode}`);
          all &&= status === 'exited';
        } else {
          if (status === 'exited' || status === 'dead') throw new Error(`${service} ${status} (exit ${exitCode})`);
          all &&= health === 'healthy';
        }
      }
      const line = states.join(' ');
      if (line !== last) console.log(`  ${line}`);
      last = line;
      return all;
    }, Boolean, { timeoutMs: ms, intervalMs: 1000 });
    if (!healthy) throw new Error(`containers not healthy after ${ms / 1000} s: ${last}`);
  }
}

export type HttpResult = { status: number; json: Record<string, unknown>; text: string; headers: Headers };

export async function http(url: string, init: RequestInit = {}): Promise<HttpResult> {
  const res = await fetch(url, { ...init, signal: AbortSignal.timeout(15_000), redirect: 'manual' });
  const text = await res.text();
  let json: Record<string, unknown> = {};
  try {
    json = text ? (JSON.parse(text) as Record<string, unknown>) : {};
  } catch {
    // not JSON: callers look at text
  }
  return { status: res.status, json, text, headers: res.headers };
}

export { basic } from '../../lib/http.ts';

/** A form POST, optionally with an Authorization header. */
export function form(body: Record<string, string>, authorization?: string): RequestInit {
  const headers: Record<string, string> = { 'content-type': 'application/x-www-form-urlencoded' };
  if (authorization) headers.authorization = authorization;
  return { method: 'POST', headers, body: new URLSearchParams(body) };
}

/** True if something already answers on 127.0.0.1:port (e.g. a `npm start` stack). */
export async function portInUse(port: number): Promise<boolean> {
  const { createConnection } = await import('node:net');
  return new Promise((resolve) => {
    const socket = createConnection({ host: '127.0.0.1', port });
    socket.setTimeout(2000);
    socket.once('connect', () => (socket.destroy(), resolve(true)));
    socket.once('timeout', () => (socket.destroy(), resolve(false)));
    socket.once('error', () => resolve(false));
  });
}
