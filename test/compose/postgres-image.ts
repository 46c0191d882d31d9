// The PostgreSQL server of the `scale` stack (compose.scale.yaml), built without a registry as a
// stand-in for the official `postgres:16` image users pull: the cached debootstrap rootfs plus Debian's
// `postgresql` package (installed with chroot apt-get, cached), and an entry point that honours the
// part of the official image's contract compose.scale.yaml uses:
//   POSTGRES_PASSWORD (required), POSTGRES_USER (default postgres), POSTGRES_DB (default = user),
//   PGDATA (default /var/lib/postgresql/data, a volume), initdb on first start, listening on every
//   interface with scram-sha-256 password auth, `pg_isready` on PATH; runs as the postgres user.
// Debian bookworm ships PostgreSQL 15 (the user-facing file names postgres:16; the IDP needs neither).
import { chmodSync, copyFileSync, existsSync, mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { cacheDir } from './image.ts';
import { run, runOk } from './run.ts';

const SUITE = 'bookworm';
/** Bump when the layout of the cached PostgreSQL rootfs changes. */
const LAYOUT = 'v1';

const ENTRYPOINT = `#!/bin/sh
# Minimal stand-in for the official postgres image's docker-entrypoint.sh (runs as user postgres).
set -eu
: "\${PGDATA:=/var/lib/postgresql/data}"
POSTGRES_USER="\${POSTGRES_USER:-postgres}"
POSTGRES_DB="\${POSTGRES_DB:-$POSTGRES_USER}"
if [ "\${1:-postgres}" = postgres ] && [ ! -s "$PGDATA/PG_VERSION" ]; then
  if [ -z "\${POSTGRES_PASSWORD:-}" ]; then
    echo "error: POSTGRES_PASSWORD must be set (this image has no trust mode)" >&2
    exit 1
  fi
  mkdir -p "$PGDATA"
  chmod 700 "$PGDATA"
  pwfile=$(mktemp)
  printf '%s\\n' "$POSTGRES_PASSWORD" > "$pwfile"
  initdb --pgdata="$PGDATA" --username="$POSTGRES_USER" --pwfile="$pwfile" \\
    --auth-local=trust --auth-host=scram-sha-256 --encoding=UTF8 --locale=C.UTF-8 >/dev/null
  rm -f "$pwfile"
  echo "host all all all scram-sha-256" >> "$PGDATA/pg_hba.conf"
  echo "listen_addresses = '*'" >> "$PGDATA/postgresql.conf"
  if [ "$POSTGRES_DB" != postgres ]; then
    echo "CREATE DATABASE \\"$POSTGRES_DB\\" OWNER \\"$POSTGRES_USER\\";" | postgres --single -D "$PGDATA" postgres >/dev/null
  fi
  echo "initialised $PGDATA (database $POSTGRES_DB, user $POSTGRES_USER)"
fi
if [ "\${1:-postgres}" = postgres ]; then
  shift $(( $# > 0 ? 1 : 0 ))
  exec postgres -D "$PGDATA" "$@"
fi
exec "$@"
`;

function pgChanges(pgBin: string): string[] {
  return [
    `ENV PATH=${pgBin}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin`,
    'ENV PGDATA=/var/lib/postgresql/data',
    'ENV LANG=C.UTF-8',
    'USER postgres',
    'WORKDIR /var/lib/postgresql',
    'EXPOSE 5432',
    'ENTRYPOINT ["/usr/local/bin/docker-entrypoint.sh"]',
    'CMD ["postgres"]',
  ];
}

async function chroot(dir: string, command: string, timeoutMs = 900_000): Promise<void> {
  const env = { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', DEBIAN_FRONTEND: 'noninteractive', LANG: 'C.UTF-8', HOME: '/root' };
  await runOk('chroot', [dir, 'sh', '-c', command], { env, timeoutMs });
}

/** debootstrap minbase + postgresql, built once per key. Returns the rootfs and the server's bin dir. */
async function postgresRootfs(cache: string, log: (line: string) => void): Promise<{ dir: string; key: string; pgBin: string }> {
  const key = `${SUITE}-minbase-postgresql-${LAYOUT}`;
  const dir = join(cache, 'rootfs', key);
  const debootstrapped = join(cache, 'rootfs', `${SUITE}-minbase`);
  if (!existsSync(join(dir, '.complete'))) {
    if (!existsSync(join(debootstrapped, '.complete'))) throw new Error(`${debootstrapped} missing: build the app image first (buildOfflineImage)`);
    log(`rootfs ${key}: chroot apt-get install postgresql (about a minute)`);
    const tmp = `${dir}.tmp`;
    rmSync(tmp, { recursive: true, force: true });
    await runOk('cp', ['-a', debootstrapped, tmp], { timeoutMs: 300_000 });
    rmSync(join(tmp, '.complete'), { force: true });
    copyFileSync('/etc/resolv.conf', join(tmp, 'etc', 'resolv.conf'));
    // No services started by maintainer scripts, no default cluster (the entry point runs initdb).
    writeFileSync(join(tmp, 'usr', 'sbin', 'policy-rc.d'), '#!/bin/sh\nexit 101\n', { mode: 0o755 });
    mkdirSync(join(tmp, 'etc', 'postgresql-common'), { recursive: true });
    writeFileSync(join(tmp, 'etc', 'postgresql-common', 'createcluster.conf'), 'create_main_cluster = false\n');
    await chroot(tmp, 'apt-get update -qq && apt-get install -y -qq --no-install-recommends postgresql >/dev/null && apt-get clean && rm -rf /var/lib/apt/lists/*');
    rmSync(join(tmp, 'usr', 'sbin', 'policy-rc.d'), { force: true });
    writeFileSync(join(tmp, 'etc', 'resolv.conf'), '');
    // The data dir (a volume: takes owner and mode from here when first created) and the socket dir.
    await chroot(tmp, 'install -d -o postgres -g postgres -m 700 /var/lib/postgresql/data && install -d -o postgres -g postgres -m 2775 /var/run/postgresql');
    writeFileSync(join(tmp, 'usr', 'local', 'bin', 'docker-entrypoint.sh'), ENTRYPOINT);
    chmodSync(join(tmp, 'usr', 'local', 'bin', 'docker-entrypoint.sh'), 0o755);
    writeFileSync(join(tmp, '.complete'), '');
    rmSync(dir, { recursive: true, force: true });
    renameSync(tmp, dir);
  }
  const versions = (await runOk('ls', [join(dir, 'usr', 'lib', 'postgresql')], { timeoutMs: 10_000 })).stdout.trim().split('\n');
  const pgBin = `/usr/lib/postgresql/${versions.sort().pop()}/bin`;
  return { dir, key, pgBin };
}

export async function buildPostgresImage(options: { image: string; cacheDir?: string; log?: (line: string) => void }): Promise<{ imported: boolean }> {
  const log = options.log ?? ((line: string) => console.log(`  ${line}`));
  const cache = options.cacheDir ?? cacheDir();
  const rootfs = await postgresRootfs(cache, log);
  // The entry point is rewritten on every build so edits to it reach the image.
  writeFileSync(join(rootfs.dir, 'usr', 'local', 'bin', 'docker-entrypoint.sh'), ENTRYPOINT);
  const changes = pgChanges(rootfs.pgBin);
  const inputs = createHash('sha256').update(rootfs.key).update(ENTRYPOINT).update(changes.join('\n')).digest('hex').slice(0, 24);
  const inspected = await run('docker', ['image', 'inspect', '--format', '{{ index .Config.Labels "solutrix.smoke.inputs" }}', options.image], { timeoutMs: 30_000 });
  if (inspected.code === 0 && inspected.stdout.trim() === inputs) {
    log(`${options.image} is up to date (inputs ${inputs})`);
    return { imported: false };
  }
  const args = [...changes, `LABEL solutrix.smoke.inputs=${inputs}`].flatMap((c) => ['--change', c]);
  const quoted = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
  const command = `set -o pipefail; tar -c --exclude=./.complete -C ${quoted(rootfs.dir)} . | docker import ${args.map(quoted).join(' ')} - ${quoted(options.image)}`;
  await runOk('bash', ['-c', command], { timeoutMs: 600_000 });
  log(`imported ${options.image} (inputs ${inputs})`);
  return { imported: true };
}

// `tsx test/compose/postgres-image.ts [IMAGE]`: build just this image.
if (import.meta.url === `file://${process.argv[1]}`) {
  const started = performance.now();
  await buildPostgresImage({ image: process.argv[2] || 'solutrix-local-postgres:dev' });
  console.log(`done in ${((performance.now() - started) / 1000).toFixed(1)} s`);
}

