import { execFile, spawnSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { freePort } from './process.ts';

const run = promisify(execFile);

export type TestPostgres = {
  port: number;
  /** A connection URL for the `postgres` database (superuser, trust auth). */
  adminUrl: string;
  /** Creates an empty database and returns its URL. */
  createDatabase(name: string): Promise<string>;
  /** Stops the server and removes its data directory. */
  stop(): Promise<void>;
};

/**
 * A throwaway PostgreSQL server for tests: Debian's `postgresql` package (PG_BIN overrides where its
 * binaries are), a fresh cluster in a temp dir, listening on 127.0.0.1 on a free port with `trust`
 * authentication. As root it runs as the `postgres` system user (the server refuses to run as root).
 * Durability is switched off: a test cluster that dies is thrown away anyway. `serverSettings` are
 * further `-c name=value` options (e.g. `shared_preload_libraries: 'pg_stat_statements'` for a profile).
 */
export async function startPostgres({ serverSettings = {} }: { serverSettings?: Record<string, string> } = {}): Promise<TestPostgres> {
  const bin = findBinaries();
  const root = mkdtempSync(join(tmpdir(), 'pg-test-'));
  const data = join(root, 'data');
  const asRoot = process.getuid?.() === 0;
  let owner: { uid: number; gid: number } | undefined;
  if (asRoot) {
    owner = postgresUser();
    chownSync(root, owner.uid, owner.gid);
  }
  // runuser keeps our environment; the postgres user cannot read root's cwd, so run from the temp dir.
  const pgCommand = (tool: string, args: string[]) =>
    asRoot ? run('runuser', ['-u', 'postgres', '--', join(bin, tool), ...args], { cwd: root }) : run(join(bin, tool), args, { cwd: root });

  try {
    await pgCommand('initdb', ['-D', data, '-U', 'postgres', '--auth=trust', '--encoding=UTF8', '--locale=C', '--no-sync']);
  } catch (err) {
    rmSync(root, { recursive: true, force: true });
    throw new Error(`initdb failed: ${(err as { stderr?: string }).stderr ?? (err as Error).message}`);
  }

  let port = 0;
  for (let attempt = 1; ; attempt++) {
    port = await freePort();
    const options = `-p ${port} -k ${root} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200${Object.entries(serverSettings)
      .map(([name, value]) => ` -c ${name}=${value}`)
      .join('')}`;
    try {
      await pgCommand('pg_ctl', ['start', '-D', data, '-w', '-t', '30', '-l', join(root, 'server.log'), '-o', options]);
      break;
    } catch (err) {
      // Another process may have taken the port between freePort() and the server's bind.
      if (attempt >= 3) {
        const log = existsSync(join(root, 'server.log')) ? readFileSync(join(root, 'server.log'), 'utf8') : '';
        rmSync(root, { recursive: true, force: true });
        throw new Error(`PostgreSQL did not start: ${(err as { stderr?: string }).stderr ?? (err as Error).message}\n${log}`);
      }
    }
  }

  // Should the test process die without stop(), do not leave a server running.
  const kill = () => {
    const args = ['stop', '-D', data, '-m', 'immediate'];
    spawnSync(asRoot ? 'runuser' : join(bin, 'pg_ctl'), asRoot ? ['-u', 'postgres', '--', join(bin, 'pg_ctl'), ...args] : args, { cwd: root, stdio: 'ignore' });
    rmSync(root, { recursive: true, force: true });
  };
  process.once('exit', kill);

  const adminUrl = `postgres://postgres@127.0.0.1:${port}/postgres`;
  let stopped = false;
  return {
    port,
    adminUrl,
    async createDatabase(name) {
      if (!/^[a-z_][a-z0-9_]{0,62}$/.test(name)) throw new TypeError(`not a plain database name: ${name}`);
      const client = new pg.Client({ connectionString: adminUrl });
      await client.connect();
      try {
        await client.query(`CREATE DATABASE ${name}`);
      } finally {
        await client.end();
      }
      return `postgres://postgres@127.0.0.1:${port}/${name}`;
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      process.removeListener('exit', kill);
      await pgCommand('pg_ctl', ['stop', '-D', data, '-m', 'fast', '-w']).catch(() => {});
      rmSync(root, { recursive: true, force: true });
    },
  };
}

function findBinaries(): string {
  if (process.env.PG_BIN) return process.env.PG_BIN;
  const base = '/usr/lib/postgresql';
  const versions = existsSync(base) ? readdirSync(base).filter((v) => existsSync(join(base, v, 'bin', 'initdb'))) : [];
  const newest = versions.sort((a, b) => Number(b) - Number(a))[0];
  if (!newest) {
    throw new Error(`PostgreSQL is not installed (no ${base}/<version>/bin/initdb): run \`apt-get install -y postgresql\` or set PG_BIN`);
  }
  return join(base, newest, 'bin');
}

function postgresUser(): { uid: number; gid: number } {
  const line = readFileSync('/etc/passwd', 'utf8').split('\n').find((l) => l.startsWith('postgres:'));
  const [, , uid, gid] = line?.split(':') ?? [];
  if (uid === undefined || gid === undefined) throw new Error('running as root needs the `postgres` system user (Debian\'s postgresql package creates it)');
  return { uid: Number(uid), gid: Number(gid) };
}
