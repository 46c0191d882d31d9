// The stack's image, built from the project's real Dockerfile with `docker build`, as users build it.
// Where a base image the Dockerfile names (`FROM`) is neither present nor pullable (no image registry),
// an offline stand-in is tagged under that exact name first (node-base.ts). On such machines a
// container on the default bridge may not reach the npm registry; the build then runs with
// `--network host` (probed, or set by SMOKE_BUILD_NETWORK). Everything after `FROM` is the real file.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildHaproxyStandIn, HAPROXY_BASE } from './haproxy-image.ts';
import { buildNodeStandIn, NODE_BASE, officialImage } from './node-base.ts';
import { run } from './run.ts';
import { defaultLog, type Log } from './rootfs.ts';

/** Offline stand-ins, by the image name they stand in for. */
const STAND_INS: Record<string, (log: Log) => Promise<unknown>> = {
  [NODE_BASE]: (log) => buildNodeStandIn({ log }),
  [HAPROXY_BASE]: (log) => buildHaproxyStandIn({ log }),
};

/** The external images of a Dockerfile's `FROM` lines (stage names excluded). */
export function baseImages(dockerfile: string): string[] {
  const stages = new Set<string>();
  const images: string[] = [];
  for (const line of dockerfile.split('\n')) {
    const match = /^\s*FROM\s+(?:--\S+\s+)*(\S+)(?:\s+AS\s+(\S+))?\s*$/i.exec(line);
    if (!match) continue;
    const [, image, stage] = match;
    if (!stages.has(image!.toLowerCase()) && !images.includes(image!)) images.push(image!);
    if (stage) stages.add(stage.toLowerCase());
  }
  return images;
}

const REGISTRY_PROBE = "fetch('https://registry.npmjs.org/-/ping', { signal: AbortSignal.timeout(15000) }).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))";

/** '' (the default bridge) when a container there reaches the npm registry, else 'host' if that does. */
async function buildNetwork(base: string, log: Log): Promise<string> {
  for (const network of ['', 'host']) {
    const args = ['run', '--rm', ...(network ? ['--network', network] : []), base, 'node', '-e', REGISTRY_PROBE];
    const probe = await run('docker', args, { timeoutMs: 60_000 }).catch(() => ({ code: 1 }));
    if (probe.code === 0) return network;
    log(`the npm registry is unreachable from a container on the ${network || 'default'} network`);
  }
  throw new Error('no container network reaches the npm registry: the Dockerfile\'s `npm ci` cannot run here');
}

export type BuildResult = { standIns: string[]; cachedSteps: number; steps: number };

export async function buildImage(options: { root: string; image: string; log?: Log }): Promise<BuildResult> {
  const log = options.log ?? defaultLog;
  const dockerfile = readFileSync(join(options.root, 'Dockerfile'), 'utf8');
  const bases = baseImages(dockerfile);
  if (bases.length === 0) throw new Error('the Dockerfile names no base image (FROM)');
  const standIns: string[] = [];
  for (const base of bases) {
    const official = await officialImage(base, log);
    if (official) {
      log(`${base}: ${official}`);
      continue;
    }
    const standIn = STAND_INS[base];
    if (!standIn) throw new Error(`${base} cannot be pulled and the smoke test has no offline stand-in for it (it has: ${Object.keys(STAND_INS).join(', ')})`);
    await standIn(log);
    standIns.push(base);
  }

  // Only `RUN` steps use the network (the probe needs Node in the base: the app's Dockerfile).
  const runs = /^\s*RUN\s/im.test(dockerfile);
  const network = process.env.SMOKE_BUILD_NETWORK ?? (standIns.length && runs ? await buildNetwork(standIns[0]!, log) : '');
  const args = ['build', '--tag', options.image, ...(network ? ['--network', network] : []), options.root];
  log(`docker ${args.join(' ')}`);
  // The classic builder prints one "Step n/m" per instruction and " ---> Using cache" for each reused one.
  const result = await run('docker', args, { cwd: options.root, env: { ...process.env, DOCKER_CLI_HINTS: 'false' }, timeoutMs: 1_200_000 });
  const output = `${result.stdout}\n${result.stderr}`;
  if (result.code !== 0) {
    throw new Error(`docker build exited ${result.code}\n${output.trim().split('\n').slice(-40).join('\n')}`);
  }
  const steps = (result.stdout.match(/^Step \d+\/\d+ :/gm) ?? []).length;
  const cachedSteps = (result.stdout.match(/^ ---> Using cache$/gm) ?? []).length;
  log(`built ${options.image} from the Dockerfile (${steps ? `${cachedSteps}/${steps} steps cached` : 'BuildKit'})`);
  return { standIns, cachedSteps, steps };
}
