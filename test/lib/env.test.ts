import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { describe, it } from 'node:test';
import { ConfigError, Env, FETCH_BAD_PORTS, LOG_LEVELS } from '../../lib/env.ts';
import { ROOT } from '../support/process.ts';

/** Runs a program with `env` added to a clean environment; its exit code and both streams. */
async function run(entry: string, env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  // Its own process group, so that a regression (start.ts spawning the stack after all) is killed whole.
  const child = spawn(process.execPath, ['--import', 'tsx', entry], {
    cwd: ROOT,
    env: { PATH: process.env.PATH, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk) => (stdout += chunk));
  child.stderr.on('data', (chunk) => (stderr += chunk));
  const timer = setTimeout(() => process.kill(-child.pid!, 'SIGKILL'), 30_000);
  const [code] = (await once(child, 'exit')) as [number | null];
  clearTimeout(timer);
  try {
    process.kill(-child.pid!, 'SIGKILL'); // anything it left behind
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
  }
  return { code, stdout, stderr };
}

describe('every program reports a setting that cannot work the same way', () => {
  const levels = `LOG_LEVEL must be one of ${LOG_LEVELS.join(', ')}, got "verbose"`;
  const cases: { entry: string; env: Record<string, string>; line: string }[] = [
    { entry: 'idp/src/main.ts', env: { LOG_LEVEL: 'verbose' }, line: `idp: configuration error: ${levels}` },
    { entry: 'service-api/src/main.ts', env: { LOG_LEVEL: 'verbose', INTROSPECTION_CLIENT_SECRET: 'x' }, line: `service-api: configuration error: ${levels}` },
    { entry: 'solutrix-api/src/main.ts', env: { LOG_LEVEL: 'verbose', IDP_CLIENT_SECRET: 'x' }, line: `solutrix-api: configuration error: ${levels}` },
    { entry: 'scripts/start.ts', env: { IDP_PORT: '70000' }, line: 'start: configuration error: IDP_PORT must be an integer between 0 and 65535 (decimal digits only), got "70000"' },
    // Fetch refuses 6000: before this check `npm start` waited 45 s for a healthy IDP that answered curl.
    { entry: 'scripts/start.ts', env: { IDP_PORT: '6000' }, line: `start: configuration error: IDP_PORT must not be 6000: browsers and Node's fetch refuse to connect to it (a Fetch standard "bad port"); choose another` },
    { entry: 'idp/src/main.ts', env: { PORT: '10080' }, line: `idp: configuration error: PORT must not be 10080: browsers and Node's fetch refuse to connect to it (a Fetch standard "bad port"); choose another` },
    { entry: 'scripts/seed.ts', env: { IDP_ADMIN_TOKEN: 'x'.repeat(32), IDP_BASE: 'nope' }, line: 'seed: configuration error: IDP_BASE must be an absolute URL, got "nope"' },
  ];
  for (const { entry, env, line } of cases) {
    it(`${entry} ${Object.keys(env).join(' ')}: one line on stderr naming the variable, exit code 1, no stack trace`, async () => {
      const { code, stdout, stderr } = await run(entry, env);
      // oidc-provider warns about Node 20 on import; that line is not ours.
      const ours = stderr.split('\n').filter((l) => !l.startsWith('oidc-provider WARNING: Unsupported runtime')).join('\n');
      assert.deepEqual({ code, stdout, stderr: ours }, { code: 1, stdout: '', stderr: `${line}\n` });
    });
  }
});

describe('Env', () => {
  it('names the variable in a ConfigError (a TypeError, as oidc-provider throws)', () => {
    const err = (() => {
      try {
        new Env({ PORT: 'x' }).port('PORT', 1);
      } catch (caught) {
        return caught;
      }
    })();
    assert.ok(err instanceof ConfigError && err instanceof TypeError);
    assert.equal(err.variable, 'PORT');
    assert.match(err.message, /^PORT /);
  });

  it('reads LOG_LEVEL as one of pino\'s levels, info by default', () => {
    assert.equal(new Env({}).logLevel(), 'info');
    assert.equal(new Env({ LOG_LEVEL: 'silent' }).logLevel(), 'silent');
    assert.throws(() => new Env({ LOG_LEVEL: 'verbose' }).logLevel(), new TypeError(`LOG_LEVEL must be one of fatal, error, warn, info, debug, trace, silent, got "verbose"`));
  });

  it('reads a comma-separated list, dropping blanks', () => {
    assert.deepEqual(new Env({ L: ' a, ,b ,' }).list('L', 'x'), ['a', 'b']);
    assert.deepEqual(new Env({}).list('L', 'x,y'), ['x', 'y']);
  });

  it('reads integers as plain decimal digits within the bound, 32-bit by default', () => {
    const read = (raw: string) => new Env({ N: raw }).integer('N', 7);
    assert.equal(read('0'), 0);
    assert.equal(read('0042'), 42);
    assert.equal(read(String(2 ** 31 - 1)), 2 ** 31 - 1);
    assert.equal(new Env({}).integer('N', 7), 7);
    for (const raw of ['1e3', '0x10', '0b1', '0o7', '1.0', '1.5', '-1', '+1', ' 1', '1 ', '1_000', 'Infinity', String(2 ** 31), '99999999999999', '9'.repeat(400)]) {
      assert.throws(() => read(raw), { name: 'TypeError', message: `N must be an integer between 0 and 2147483647 (decimal digits only), got "${raw}"` }, raw);
    }
  });

  it('reads a Bearer secret as visible ASCII of at least 32 characters, never echoing it', () => {
    assert.equal(new Env({ T: '~'.repeat(32) }).bearerSecret('T'), '~'.repeat(32));
    assert.equal(new Env({}).bearerSecret('T'), undefined);
    for (const bad of [`${'a'.repeat(32)} b`, `${'a'.repeat(32)}\t`, `${'a'.repeat(32)}ü`, `${'a'.repeat(32)}\u00a0`]) {
      assert.throws(() => new Env({ T: bad }).bearerSecret('T'), (err: Error) => /^T must be visible ASCII/.test(err.message) && !err.message.includes('aaaa'));
    }
    assert.throws(() => new Env({ T: 'short' }).bearerSecret('T'), { message: 'T must be at least 32 characters; the value set has 5' });
  });

  it("refuses every port Node's fetch refuses, and only those", async () => {
    const refused = async (port: number) =>
      fetch(`http://127.0.0.1:${port}/`, { signal: AbortSignal.timeout(5000) }).then(
        () => false,
        (err: Error) => (err.cause as Error | undefined)?.message === 'bad port',
      );
    for (const port of FETCH_BAD_PORTS) {
      assert.ok(await refused(port), `fetch refuses ${port}`);
      assert.throws(() => new Env({ P: String(port) }).port('P', 1), { message: new RegExp(`^P must not be ${port}: `) });
    }
    // Neighbours of the list are ordinary ports, for fetch and for us.
    for (const port of [0, 2, 6001, 6664, 6670, 10081, 65535]) {
      if (port !== 0) assert.equal(await refused(port), false, `fetch connects to ${port}`);
      assert.equal(new Env({ P: String(port) }).port('P', 1), port);
    }
  });
});
