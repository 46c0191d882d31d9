import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { after, before, describe, it } from 'node:test';
import { ROOT, startService } from '../../test/support/process.ts';
import { IntrospectionStub, STUB_CLIENT_SECRET, STUB_ISSUER } from './support/introspectionStub.ts';

const MAIN = 'service-api/src/main.ts';
const stub = new IntrospectionStub();
before(async () => {
  await stub.start();
});
after(async () => {
  await stub.stop();
});

/** Runs main.ts to its exit (bounded) and returns its exit code and output. */
async function runToExit(env: Record<string, string>, timeoutMs = 30_000): Promise<{ code: number | null; output: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', MAIN], { cwd: ROOT, env: { ...process.env, LOG_LEVEL: 'info', PORT: '0', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (chunk) => (output += chunk));
  child.stderr.on('data', (chunk) => (output += chunk));
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const [code] = (await once(child, 'exit')) as [number | null];
  clearTimeout(timer);
  return { code, output };
}

describe('service-api main', () => {
  it('listens on PORT with the configuration of the environment, and exits 0 on SIGTERM', async () => {
    const exp = Math.floor(Date.now() / 1000) + 600;
    stub.tokens.set('main-test-token', { clientId: 'solutrix-api', scope: 'service.api', exp });
    const service = await startService(MAIN, { IDP_INTROSPECTION_URL: stub.url, IDP_ISSUER: STUB_ISSUER, INTROSPECTION_CLIENT_SECRET: STUB_CLIENT_SECRET, TOKEN_VERIFICATION: 'introspection' });
    try {
      const res = await fetch(`${service.origin}/v1/whoami`, { headers: { authorization: 'Bearer main-test-token' } });
      assert.equal(res.status, 200);
      assert.deepEqual(await res.json(), { subject: null, clientId: 'solutrix-api', scopes: ['service.api'], kind: 'machine', expiresAt: exp });
      const listening = service.output().split('\n').filter((l) => l.includes('service-api listening')).map((l) => JSON.parse(l) as Record<string, unknown>);
      assert.equal(listening.length, 1);
      assert.deepEqual([listening[0]!.port, listening[0]!.tokenVerification, listening[0]!.introspection], [service.port, 'introspection', stub.url]);
      assert.ok(!service.output().includes(STUB_CLIENT_SECRET), 'the secret is never logged');
    } finally {
      const exited = once(service.child, 'exit');
      await service.stop('SIGTERM');
      const [code] = (await exited) as [number | null];
      assert.equal(code, 0);
    }
  });

  it('refuses a bad configuration at start: exit 1 and one line naming the variable, no stack trace', async () => {
    const { code, output } = await runToExit({ INTROSPECTION_CLIENT_SECRET: 'x', INTROSPECTION_TIMEOUT_MS: 'soon' });
    assert.equal(code, 1);
    const lines = output.split('\n').filter(Boolean);
    assert.equal(lines.length, 1, output);
    assert.match(lines[0]!, /^service-api: configuration error: INTROSPECTION_TIMEOUT_MS must be an integer/);
  });
});
