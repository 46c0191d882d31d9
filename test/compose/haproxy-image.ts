// A stand-in for the official `haproxy:3.2` image (the base of haproxy/Dockerfile), for machines that
// cannot pull it: the cached debootstrap rootfs plus Debian's `haproxy` package (bookworm: 2.6, which
// reads haproxy/haproxy.cfg as 3.2 does), with the official image's contract: configuration at
// /usr/local/etc/haproxy/haproxy.cfg, the same entry point (`haproxy -W -db ...`), user haproxy.
// Not its STOPSIGNAL SIGUSR1 (graceful stop): `docker import` on Engine 20.10 refuses that change, and
// SIGTERM (immediate stop) makes no difference to a test stack's `down`.
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { cacheDir, chrootAptInstall, defaultLog, derivedRootfs, imageLabel, importRootfs, INPUTS_LABEL, SUITE, type Log } from './rootfs.ts';

export const HAPROXY_BASE = 'haproxy:3.2';
/** Bump when the layout of the cached rootfs changes. */
const LAYOUT = 'v1';

// The official image's docker-entrypoint.sh, verbatim in effect.
const ENTRYPOINT = `#!/bin/sh
set -e
# first arg is \`-f\` or \`--some-option\`
if [ "\${1#-}" != "$1" ]; then
  set -- haproxy "$@"
fi
if [ "$1" = 'haproxy' ]; then
  shift
  # -W: master-worker mode; -db: stay in the foreground
  set -- haproxy -W -db "$@"
fi
exec "$@"
`;

const CHANGES = [
  'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
  'USER haproxy',
  'WORKDIR /var/lib/haproxy',
  'ENTRYPOINT ["/usr/local/bin/docker-entrypoint.sh"]',
  'CMD ["haproxy", "-f", "/usr/local/etc/haproxy/haproxy.cfg"]',
];

export async function buildHaproxyStandIn(options: { image?: string; cacheDir?: string; log?: Log } = {}): Promise<{ imported: boolean }> {
  const image = options.image ?? HAPROXY_BASE;
  const log = options.log ?? defaultLog;
  const cache = options.cacheDir ?? cacheDir();
  const key = `${SUITE}-minbase-haproxy-${LAYOUT}`;
  const inputs = createHash('sha256').update(key).update(ENTRYPOINT).update(CHANGES.join('\n')).digest('hex').slice(0, 24);
  if ((await imageLabel(image, INPUTS_LABEL)) === inputs) {
    log(`stand-in ${image} is up to date (inputs ${inputs})`);
    return { imported: false };
  }
  const dir = await derivedRootfs(cache, key, log, async (tmp) => {
    await chrootAptInstall(tmp, ['haproxy']);
    mkdirSync(join(tmp, 'usr', 'local', 'etc', 'haproxy'), { recursive: true });
    writeFileSync(join(tmp, 'usr', 'local', 'bin', 'docker-entrypoint.sh'), ENTRYPOINT);
    chmodSync(join(tmp, 'usr', 'local', 'bin', 'docker-entrypoint.sh'), 0o755);
  });
  await importRootfs(dir, image, CHANGES, inputs);
  log(`imported stand-in ${image} (Debian's haproxy; inputs ${inputs})`);
  return { imported: true };
}
