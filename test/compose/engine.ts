// Makes sure a Docker engine and the Compose v1 CLI are available: installs Debian's docker.io and
// docker-compose when missing (this machine ships only a Docker client) and starts dockerd.
import { closeSync, openSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { poll } from '../support/wait.ts';
import { hasCommand, run, runOk } from './run.ts';

export type EngineState = { ok: true; startedDaemon: boolean } | { ok: false; reason: string };

const dockerAnswers = async () => {
  try {
    return (await run('docker', ['info', '--format', '{{.ServerVersion}}'], { timeoutMs: 15_000 })).code === 0;
  } catch {
    return false;
  }
};

let aptUpdated = false;
export async function aptInstall(packages: string[]): Promise<void> {
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  if (!aptUpdated) {
    await runOk('apt-get', ['update', '-qq'], { env, timeoutMs: 300_000 });
    aptUpdated = true;
  }
  console.log(`  apt-get install ${packages.join(' ')}`);
  await runOk('apt-get', ['install', '-y', '-qq', ...packages], { env, timeoutMs: 600_000 });
}

/** Installs what is missing among the given commands, each from its Debian package. */
export async function ensureCommands(commands: Record<string, string>): Promise<void> {
  const missing: string[] = [];
  for (const [command, pkg] of Object.entries(commands)) if (!(await hasCommand(command))) missing.push(pkg);
  if (missing.length) await aptInstall([...new Set(missing)]);
}

export async function ensureEngine(log = '/tmp/solutrix-smoke-dockerd.log'): Promise<EngineState> {
  const canInstall = process.getuid?.() === 0 && (await hasCommand('apt-get'));
  const needed = { dockerd: 'docker.io', 'docker-compose': 'docker-compose', debootstrap: 'debootstrap' };
  if (canInstall) {
    try {
      await ensureCommands(needed);
    } catch (err) {
      return { ok: false, reason: `installing docker.io/docker-compose/debootstrap failed: ${(err as Error).message}` };
    }
  }
  for (const command of Object.keys(needed)) {
    if (!(await hasCommand(command)) && !(command === 'dockerd' && (await dockerAnswers()))) {
      return { ok: false, reason: `${command} is not installed and cannot be installed here` };
    }
  }
  if (await dockerAnswers()) return { ok: true, startedDaemon: false };
  if (process.getuid?.() !== 0) return { ok: false, reason: 'no Docker engine answers and starting dockerd needs root' };

  console.log(`  starting dockerd (log: ${log})`);
  const out = openSync(log, 'a');
  const daemon = spawn('dockerd', [], { detached: true, stdio: ['ignore', out, out] });
  closeSync(out);
  let exited: number | null | undefined;
  daemon.on('exit', (code) => (exited = code));
  daemon.unref();
  const answers = await poll(dockerAnswers, (yes) => yes || exited !== undefined, { timeoutMs: 60_000, intervalMs: 1000 });
  if (answers) return { ok: true, startedDaemon: true };
  if (exited !== undefined) return { ok: false, reason: `dockerd exited with ${exited}; see ${log}` };
  return { ok: false, reason: `dockerd did not answer within 60 s; see ${log}` };
}
