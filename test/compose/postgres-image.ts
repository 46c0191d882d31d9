// The PostgreSQL server of the `scale` stack (compose.scale.yaml), built without a registry as a
// stand-in for the official `postgres:16` image users pull: the cached debootstrap rootfs plus Debian's
// `postgresql` package (installed with chroot apt-get, cached), and an entry point that honours the
// part of the official image's contract compose.scale.yaml uses:
//   POSTGRES_PASSWORD (required), POSTGRES_USER (default postgres), POSTGRES_DB (default = user),
//   PGDATA (default /var/lib/postgresql/data, a volume), initdb on first start, listening on every
//   interface with scram-sha-256 password auth, `pg_isready` on PATH; runs as the postgres user.
// Debian bookworm ships PostgreSQL 15 (the user-facing file names postgres:16; the IDP needs neither).
import { chmodSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { runOk } from './run.ts';
import { cacheDir, chroot, chrootAptInstall, defaultLog, derivedRootfs, imageLabel, importRootfs, INPUTS_LABEL, SUITE, type Log } from './rootfs.ts';

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

/** debootstrap minbase + postgresql, built once per key. Returns the rootfs and the server's bin dir. */
async function postgresRootfs(cache: string, log: Log): Promise<{ dir: string; key: string; pgBin: string }> {
  const key = `${SUITE}-minbase-postgresql-${LAYOUT}`;
  const dir = await derivedRootfs(cache, key, log, async (tmp) => {
    // No default cluster (the entry point runs initdb).
    await chroot(tmp, 'mkdir -p /etc/postgresql-common && echo "create_main_cluster = false" > /etc/postgresql-common/createcluster.conf');
    await chrootAptInstall(tmp, ['postgresql']);
    // The data dir (a volume: takes owner and mode from here when first created) and the socket dir.
    await chroot(tmp, 'install -d -o postgres -g postgres -m 700 /var/lib/postgresql/data && install -d -o postgres -g postgres -m 2775 /var/run/postgresql');
  });
  const versions = (await runOk('ls', [join(dir, 'usr', 'lib', 'postgresql')], { timeoutMs: 10_000 })).stdout.trim().split('\n');
  const pgBin = `/usr/lib/postgresql/${versions.sort().pop()}/bin`;
  return { dir, key, pgBin };
}

export async function buildPostgresImage(options: { image: string; cacheDir?: string; log?: Log }): Promise<{ imported: boolean }> {
  const log = options.log ?? defaultLog;
  const cache = options.cacheDir ?? cacheDir();
  const rootfs = await postgresRootfs(cache, log);
  // The entry point is written on every build so edits to it reach the image.
  writeFileSync(join(rootfs.dir, 'usr', 'local', 'bin', 'docker-entrypoint.sh'), ENTRYPOINT);
  chmodSync(join(rootfs.dir, 'usr', 'local', 'bin', 'docker-entrypoint.sh'), 0o755);
  const changes = pgChanges(rootfs.pgBin);
  const inputs = createHash('sha256').update(rootfs.key).update(ENTRYPOINT).update(changes.join('\n')).digest('hex').slice(0, 24);
  if ((await imageLabel(options.image, INPUTS_LABEL)) === inputs) {
    log(`${options.image} is up to date (inputs ${inputs})`);
    return { imported: false };
  }
  await importRootfs(rootfs.dir, options.image, changes, inputs);
  log(`imported ${options.image} (inputs ${inputs})`);
  return { imported: true };
}

// `tsx test/compose/postgres-image.ts [IMAGE]`: build just this image.
if (import.meta.url === `file://${process.argv[1]}`) {
  const started = performance.now();
  await buildPostgresImage({ image: process.argv[2] || 'solutrix-local-postgres:dev' });
  console.log(`done in ${((performance.now() - started) / 1000).toFixed(1)} s`);
}

