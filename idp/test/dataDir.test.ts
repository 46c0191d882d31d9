// A damaged or unusable data dir is refused at start with a message naming the file and IDP_DATA_DIR,
// never silently replaced by an empty database; /healthz says 503 while the store cannot be used.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { chmodSync, chownSync, closeSync, mkdtempSync, openSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { adminRequest, registerClient, startIdp } from '../../test/support/idp.ts';
import { freePort, ROOT } from '../../test/support/process.ts';
import { call } from './helpers.ts';

const NOBODY = { uid: 65534, gid: 65534 };
const newDataDir = () => mkdtempSync(join(tmpdir(), 'idp-damaged-'));

/** Starts the IDP on `dataDir` and waits (at most 30 s) for it to give up: its exit code and output. */
async function refusedStart(dataDir: string, as?: { uid: number; gid: number }): Promise<{ code: number | null; output: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'idp/src/main.ts'], {
    cwd: ROOT,
    env: { ...process.env, LOG_LEVEL: 'info', IDP_DATA_DIR: dataDir, IDP_ADMIN_TOKEN: randomBytes(24).toString('base64url'), PORT: String(await freePort()), HOST: '127.0.0.1' },
    stdio: ['ignore', 'pipe', 'pipe'],
    ...as,
  });
  let output = '';
  child.stdout.on('data', (chunk) => (output += chunk));
  child.stderr.on('data', (chunk) => (output += chunk));
  const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
  const [code] = (await once(child, 'exit')) as [number | null];
  clearTimeout(timer);
  return { code, output };
}

function assertRefused(result: { code: number | null; output: string }, file: string, dataDir: string, reason: RegExp) {
  assert.equal(result.code, 1, result.output);
  const fatal = result.output.split('\n').filter((line) => line.startsWith('{')).map((line) => JSON.parse(line) as { level: number; msg: string }).find((l) => l.level === 60);
  assert.ok(fatal, `a fatal log line: ${result.output}`);
  assert.ok(fatal.msg.startsWith(`${file} `), fatal.msg);
  assert.match(fatal.msg, reason);
  assert.ok(fatal.msg.endsWith(`[IDP_DATA_DIR=${dataDir}]`), fatal.msg);
  assert.doesNotMatch(result.output, /\n\s+at /, 'no stack trace');
}

/** A data dir of a real IDP that ran and stored a few hundred rows, stopped cleanly. */
async function usedDataDir(): Promise<string> {
  const idp = await startIdp();
  try {
    await registerClient(idp, 'service-introspector');
    for (let i = 0; i < 30; i++) assert.equal((await adminRequest(idp, 'POST', '/users', { username: `user-${i}`, password: 'a-long-password', name: 'x'.repeat(150) })).status, 201);
    for (let i = 0; i < 30; i++) await registerClient(idp, `client-${i}`, ['service.api'], { redirect_uris: [] });
  } finally {
    await idp.stop();
  }
  return idp.dataDir;
}

describe('a damaged data dir is refused at start', () => {
  test('a zero-length idp.sqlite is refused, not taken as a new empty database', async () => {
    const dataDir = newDataDir();
    const file = join(dataDir, 'idp.sqlite');
    writeFileSync(file, '');
    assertRefused(await refusedStart(dataDir), file, dataDir, /is empty \(0 bytes\).*restore it from a backup/);
    assert.equal(statSync(file).size, 0, 'the file is left as it was');
    rmSync(dataDir, { recursive: true, force: true });
  });

  test('an SQLite file without the IDP tables is refused', async () => {
    const dataDir = newDataDir();
    const file = join(dataDir, 'idp.sqlite');
    const { default: Database } = await import('better-sqlite3');
    const other = new Database(file);
    other.exec('CREATE TABLE notes (text TEXT)');
    other.close();
    assertRefused(await refusedStart(dataDir), file, dataDir, /holds no IDP tables/);
    rmSync(dataDir, { recursive: true, force: true });
  });

  test('random bytes in the middle of idp.sqlite are found by the start-up check and refused', async () => {
    const dataDir = await usedDataDir();
    const file = join(dataDir, 'idp.sqlite');
    const size = statSync(file).size;
    assert.ok(size >= 64 * 1024, `enough pages to damage one in the middle (${size} bytes)`);
    const fd = openSync(file, 'r+');
    writeSync(fd, randomBytes(8192), 0, 8192, Math.floor(size / 2 / 4096) * 4096);
    closeSync(fd);
    assertRefused(await refusedStart(dataDir), file, dataDir, /is damaged \(PRAGMA quick_check: .+\)|is not a readable SQLite database/);
    rmSync(dataDir, { recursive: true, force: true });
  });

  test('garbage instead of the SQLite header is refused', async () => {
    const dataDir = await usedDataDir();
    const file = join(dataDir, 'idp.sqlite');
    const fd = openSync(file, 'r+');
    writeSync(fd, Buffer.alloc(100, 0x41), 0, 100, 0);
    closeSync(fd);
    assertRefused(await refusedStart(dataDir), file, dataDir, /is not a readable SQLite database/);
    rmSync(dataDir, { recursive: true, force: true });
  });

  // As root every file is writable: the IDP runs as `nobody` here, as it would under a service account.
  test('a read-only idp.sqlite is refused, naming the file', async () => {
    const dataDir = await usedDataDir();
    const file = join(dataDir, 'idp.sqlite');
    chownSync(dataDir, NOBODY.uid, NOBODY.gid);
    for (const name of ['idp.sqlite', 'jwks.json', 'cookie-keys.json', 'admin-token']) {
      try {
        chownSync(join(dataDir, name), NOBODY.uid, NOBODY.gid);
      } catch {}
    }
    chmodSync(file, 0o400);
    assertRefused(await refusedStart(dataDir, NOBODY), file, dataDir, /cannot be opened for writing/);
    rmSync(dataDir, { recursive: true, force: true });
  });

  test('a read-only data dir is refused, naming the file', async () => {
    const dataDir = await usedDataDir();
    const file = join(dataDir, 'idp.sqlite');
    chownSync(dataDir, NOBODY.uid, NOBODY.gid);
    chownSync(file, NOBODY.uid, NOBODY.gid);
    chmodSync(dataDir, 0o500);
    assertRefused(await refusedStart(dataDir, NOBODY), file, dataDir, /cannot be opened for writing/);
    chmodSync(dataDir, 0o700);
    rmSync(dataDir, { recursive: true, force: true });
  });
});

describe('/healthz follows the store', () => {
  test('a running IDP whose database file is removed answers /healthz 503', async () => {
    const idp = await startIdp();
    try {
      assert.deepEqual((await call(`${idp.origin}/healthz`)).body, { status: 'ok' });
      rmSync(join(idp.dataDir, 'idp.sqlite'));
      const res = await call(`${idp.origin}/healthz`);
      assert.equal(res.status, 503);
      assert.equal(res.headers.get('retry-after'), '5');
      assert.deepEqual(res.body, { status: 'unavailable', error: 'store_unavailable', error_description: 'the IDP cannot read or write its store' });
    } finally {
      await idp.stop();
    }
  });
});
