// A stand-in for the official `node:22-bookworm-slim` image, for machines that cannot pull it (no
// image registry) — tagged under that exact name so the project's real Dockerfile builds unchanged.
// Only what the Dockerfile relies on from the official image, plus what this kind of machine lacks:
//   - Debian bookworm (debootstrap minbase), Node 22 in /usr/local/bin, npm in /usr/local/lib/node_modules
//     (the host's npm, as the official image bundles one), a `node` user and group with uid/gid 1000;
//   - Node's headers in /usr/local/include/node with npm_config_nodedir=/usr/local: node-gyp cannot
//     download them here (and better-sqlite3's prebuilt binary cannot be downloaded either, so it compiles);
//   - the host's CA bundle with NODE_EXTRA_CA_CERTS: the npm registry is reached only through a
//     TLS-intercepting CA that the host trusts.
// The environment-specific part lives here, in the base image — never in the Dockerfile.
import { createHash } from 'node:crypto';
import { appendFileSync, chmodSync, chownSync, copyFileSync, existsSync, mkdirSync, readFileSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { run, runOk } from './run.ts';
import { cacheDir, chroot, cleanEnv, defaultLog, derivedRootfs, imageLabel, importRootfs, INPUTS_LABEL, node22, type Log } from './rootfs.ts';

export const NODE_BASE = 'node:22-bookworm-slim';
const NODE_UID = 1000;
/** Bump when the layout of the stand-in changes. */
const LAYOUT = 'v1';
const HOST_CA_BUNDLE = '/etc/ssl/certs/ca-certificates.crt';
const IMAGE_CA_BUNDLE = '/usr/local/share/host-ca-certificates.crt';

async function hostNpm(): Promise<{ dir: string; version: string }> {
  const root = (await runOk('npm', ['root', '-g'], { env: cleanEnv(), timeoutMs: 30_000 })).stdout.trim();
  const dir = join(root, 'npm');
  const version = (JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { version: string }).version;
  return { dir, version };
}

export async function buildNodeStandIn(options: { image?: string; cacheDir?: string; log?: Log } = {}): Promise<{ imported: boolean }> {
  const image = options.image ?? NODE_BASE;
  const log = options.log ?? defaultLog;
  const cache = options.cacheDir ?? cacheDir();
  const node = await node22(cache, log);
  const npm = await hostNpm();
  const ca = existsSync(HOST_CA_BUNDLE) ? readFileSync(HOST_CA_BUNDLE) : undefined;
  const caHash = ca ? createHash('sha256').update(ca).digest('hex').slice(0, 12) : 'none';
  const key = `${NODE_BASE.replace(/[:/]/g, '_')}-node${node.version}-npm${npm.version}-ca${caHash}-${LAYOUT}`;

  const changes = [
    'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
    `ENV NODE_VERSION=${node.version}`,
    'ENV npm_config_nodedir=/usr/local',
    ...(ca ? [`ENV NODE_EXTRA_CA_CERTS=${IMAGE_CA_BUNDLE}`] : []),
    'CMD ["node"]',
  ];
  const inputs = createHash('sha256').update(key).update(changes.join('\n')).digest('hex').slice(0, 24);
  if ((await imageLabel(image, INPUTS_LABEL)) === inputs) {
    log(`stand-in ${image} is up to date (inputs ${inputs})`);
    return { imported: false };
  }

  const dir = await derivedRootfs(cache, key, log, async (tmp) => {
    const local = join(tmp, 'usr', 'local');
    copyFileSync(join(node.dir, 'bin', 'node'), join(local, 'bin', 'node'));
    chmodSync(join(local, 'bin', 'node'), 0o755);
    mkdirSync(join(local, 'include'), { recursive: true });
    await runOk('cp', ['-a', join(node.dir, 'include', 'node'), join(local, 'include', 'node')], { timeoutMs: 60_000 });
    mkdirSync(join(local, 'lib', 'node_modules'), { recursive: true });
    await runOk('cp', ['-a', npm.dir, join(local, 'lib', 'node_modules', 'npm')], { timeoutMs: 120_000 });
    symlinkSync('../lib/node_modules/npm/bin/npm-cli.js', join(local, 'bin', 'npm'));
    symlinkSync('../lib/node_modules/npm/bin/npx-cli.js', join(local, 'bin', 'npx'));
    if (ca) copyFileSync(HOST_CA_BUNDLE, join(tmp, IMAGE_CA_BUNDLE));
    // The official image's user: node, uid/gid 1000, home /home/node.
    appendFileSync(join(tmp, 'etc', 'passwd'), `node:x:${NODE_UID}:${NODE_UID}::/home/node:/bin/bash\n`);
    appendFileSync(join(tmp, 'etc', 'group'), `node:x:${NODE_UID}:\n`);
    appendFileSync(join(tmp, 'etc', 'shadow'), 'node:*:19000:0:99999:7:::\n');
    mkdirSync(join(tmp, 'home', 'node'), { recursive: true });
    chownSync(join(tmp, 'home', 'node'), NODE_UID, NODE_UID);
  });
  // A Node that does not start in the rootfs would surface only as a confusing build failure.
  await chroot(dir, "node -e 'process.exit(0)' && npm --version >/dev/null", 60_000);
  await importRootfs(dir, image, changes, inputs);
  log(`imported stand-in ${image} (Node ${node.version}, npm ${npm.version}${ca ? ', host CA bundle' : ''}; inputs ${inputs})`);
  return { imported: true };
}

/** True for a local image this module imported (it carries the inputs label), false for a pulled one. */
export async function isStandIn(image: string): Promise<boolean> {
  const label = await imageLabel(image, INPUTS_LABEL);
  return label !== undefined && label !== '' && label !== '<no value>';
}

/** Present (and not a stand-in), or pulled within the time limit. */
export async function officialImage(image: string, log: Log, pullMs = 120_000): Promise<'present' | 'pulled' | undefined> {
  const present = await run('docker', ['image', 'inspect', image], { timeoutMs: 30_000 });
  if (present.code === 0 && !(await isStandIn(image))) return 'present';
  const pulled = await run('docker', ['pull', '--quiet', image], { timeoutMs: pullMs }).catch((err: Error) => ({ code: 1, stdout: '', stderr: err.message }));
  if (pulled.code === 0) return 'pulled';
  log(`cannot pull ${image}: ${(pulled.stderr || pulled.stdout).trim().split('\n').pop()}`);
  return undefined;
}
