// The keyring follows the keys where `npm run keys` changes them: jwks.json in the data dir (file
// watch) or the shared store's row (LISTEN/NOTIFY), and re-reads them periodically in case a change
// notice was lost. Real files and a real PostgreSQL; the periodic re-read runs on mocked timers.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { rotate } from '../../scripts/keys.ts';
import { dataDirKeys, sharedKeys, watchKeys, type Jwks, type KeySource } from '../src/keyring.ts';
import { loadSecrets, loadSharedSecrets } from '../src/keys.ts';
import { openPostgresStore } from '../src/store/postgres.ts';
import type { Store } from '../src/store/types.ts';
import { startPostgres, type TestPostgres } from '../../test/support/postgres.ts';
import { poll, sleep } from '../../test/support/wait.ts';

const HOUR = 3_600_000;
const kids = (jwks: Jwks) => jwks.keys.map((k) => k.kid);
const addedKid = (message: string) => /^added (\S+)/.exec(message)![1]!;

describe('keyring over the data dir', () => {
  let dir: string;
  let initial: Jwks;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'keyring-'));
    initial = (await loadSecrets(dir, { adminToken: 'x'.repeat(32) })).jwks;
  });

  test('a key added with npm run keys is in force without a re-read (file watch), and the listener saw it first', async () => {
    const errors: unknown[] = [];
    const keyring = await watchKeys(dataDirKeys(dir), initial, { refreshIntervalMs: HOUR, onError: (err) => errors.push(err) });
    const heard: string[][] = [];
    keyring.onChange((jwks) => heard.push(kids(jwks) as string[]));
    try {
      const kid = addedKid(await rotate(dir, 'add'));
      const seen = await poll(() => kids(keyring.current()), (k) => k.includes(kid), { timeoutMs: 5000 });
      assert.deepEqual(seen, [...kids(initial), kid]);
      assert.deepEqual(heard, [seen]);
      assert.equal(keyring.signingKey().kid, kids(initial)[0]);
      assert.equal(typeof keyring.signingKey().d, 'string', 'the private key, for signing');
      assert.deepEqual(errors, []);
    } finally {
      await keyring.close();
    }
  });

  test('keys without private parts are refused: the ones in force stay, and the error is reported', async () => {
    const errors: unknown[] = [];
    const before = JSON.parse(readFileSync(join(dir, 'jwks.json'), 'utf8')) as Jwks;
    const keyring = await watchKeys(dataDirKeys(dir), before, { refreshIntervalMs: HOUR, onError: (err) => errors.push(err) });
    try {
      const publicOnly = { keys: before.keys.map(({ d, p, q, dp, dq, qi, ...pub }) => pub) };
      writeFileSync(join(dir, 'jwks.json.tmp'), JSON.stringify(publicOnly));
      renameSync(join(dir, 'jwks.json.tmp'), join(dir, 'jwks.json'));
      assert.ok((await poll(() => errors.length, (n) => n > 0, { timeoutMs: 5000 })) > 0);
      for (const err of errors) assert.match(String(err), /jwks\.json must hold a private JWKS/); // once per file event
      assert.deepEqual(keyring.current(), before);
    } finally {
      await keyring.close();
      writeFileSync(join(dir, 'jwks.json'), JSON.stringify(before));
    }
  });

  test('a listener that throws refuses the change: current() keeps the old keys', async () => {
    const jwks = JSON.parse(readFileSync(join(dir, 'jwks.json'), 'utf8')) as Jwks;
    const errors: unknown[] = [];
    const keyring = await watchKeys(dataDirKeys(dir), jwks, { refreshIntervalMs: HOUR, onError: (err) => errors.push(err) });
    keyring.onChange(() => {
      throw new Error('cannot use these keys');
    });
    try {
      await rotate(dir, 'add');
      await poll(() => errors.length, (n) => n > 0, { timeoutMs: 5000 });
      assert.equal((errors[0] as Error).message, 'cannot use these keys');
      assert.deepEqual(keyring.current(), jwks);
    } finally {
      await keyring.close();
    }
  });
});

describe('keyring over the shared store', () => {
  let server: TestPostgres;
  let writer: Store;
  let reader: Store;
  let initial: Jwks;
  before(async () => {
    server = await startPostgres();
    const url = await server.createDatabase('keyring');
    [writer, reader] = await Promise.all([openPostgresStore(url), openPostgresStore(url)]);
    initial = (await loadSharedSecrets(reader.settings!, 'admin')).jwks;
  });
  after(async () => {
    await Promise.all([writer?.close(), reader?.close()]);
    await server?.stop();
  });

  test('a change made through another connection is in force without a re-read (LISTEN/NOTIFY); the version counts updates', async () => {
    const keyring = await watchKeys(sharedKeys(reader.settings!), initial, { refreshIntervalMs: HOUR, onError: (err) => assert.fail(String(err)) });
    try {
      const version = (await reader.settings!.read('jwks'))!.version;
      const kid = addedKid(await rotate(sharedKeys(writer.settings!), 'add'));
      const seen = await poll(() => kids(keyring.current()), (k) => k.includes(kid), { timeoutMs: 5000 });
      assert.deepEqual(seen, [...kids(initial), kid]);
      assert.equal((await reader.settings!.read('jwks'))!.version, version + 1);
      // First start's write-once semantics are kept: getOrCreate never replaces the value.
      assert.deepEqual(kids(JSON.parse(await writer.settings!.getOrCreate('jwks', async () => assert.fail('not created again'))) as Jwks), seen);
    } finally {
      await keyring.close();
    }
  });

  test('with every change notice lost, the 30 s timer alone puts the change in force', async (t) => {
    t.mock.timers.enable({ apis: ['setInterval'] });
    const deaf: KeySource = { ...sharedKeys(reader.settings!), watch: async () => async () => {} };
    const current = JSON.parse((await reader.settings!.read('jwks'))!.value) as Jwks;
    const keyring = await watchKeys(deaf, current, { refreshIntervalMs: 30_000, onError: (err) => assert.fail(String(err)) });
    try {
      const kid = addedKid(await rotate(sharedKeys(writer.settings!), 'add'));
      t.mock.timers.tick(29_999);
      assert.equal(kids(keyring.current()).includes(kid), false, 'not before the interval');
      t.mock.timers.tick(1);
      const seen = await poll(() => kids(keyring.current()), (k) => k.includes(kid), { timeoutMs: 5000 });
      assert.ok(seen.includes(kid), `seen: ${seen.join()}`);
    } finally {
      await keyring.close();
    }
  });

  test('an update waits for one in progress instead of overwriting it (the row is locked from read to commit)', async () => {
    const before = kids(JSON.parse((await reader.settings!.read('jwks'))!.value) as Jwks);
    const adding = (kid: string) => (value: string) => JSON.stringify({ keys: [...(JSON.parse(value) as Jwks).keys, { ...(JSON.parse(value) as Jwks).keys[0]!, kid }] });
    let firstRead!: () => void;
    const read = new Promise<void>((resolve) => (firstRead = resolve));
    const first = writer.settings!.update('jwks', async (value) => {
      firstRead();
      await sleep(300); // the second update starts meanwhile, on another connection
      return adding('first')(value);
    });
    await read;
    const second = reader.settings!.update('jwks', adding('second'));
    const versions = (await Promise.all([first, second])).map((s) => s.version);
    assert.deepEqual(kids(JSON.parse((await reader.settings!.read('jwks'))!.value) as Jwks), [...before, 'first', 'second']);
    assert.equal(versions[1], versions[0]! + 1);
  });
});
