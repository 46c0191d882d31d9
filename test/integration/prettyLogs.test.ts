// `npm start` with LOG_FORMAT=pretty (what a terminal gets): readable lines, and no secret in them.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { freePort, ROOT } from '../support/process.ts';

test('npm start with LOG_FORMAT=pretty prints readable request lines and no secret', async () => {
  const [idpPort, servicePort, solutrixPort] = [await freePort(), await freePort(), await freePort()];
  const dir = mkdtempSync(join(tmpdir(), 'pretty-logs-'));
  const adminToken = randomBytes(24).toString('base64url');
  const child = spawn(process.execPath, ['--import', 'tsx', 'scripts/start.ts'], {
    cwd: ROOT,
    env: {
      ...process.env,
      LOG_LEVEL: 'info',
      LOG_FORMAT: 'pretty',
      IDP_PORT: String(idpPort),
      SERVICE_API_PORT: String(servicePort),
      SOLUTRIX_PORT: String(solutrixPort),
      IDP_DATA_DIR: join(dir, 'idp'),
      SEED_CREDENTIALS_DIR: join(dir, 'credentials'),
      IDP_ADMIN_TOKEN: adminToken,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (c) => (output += c));
  child.stderr.on('data', (c) => (output += c));
  try {
    const deadline = Date.now() + 120_000;
    while (!output.includes('Stack ready')) {
      if (child.exitCode !== null || Date.now() > deadline) throw new Error(`the stack did not start:\n${output}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    const res = await fetch(`http://127.0.0.1:${solutrixPort}/v1/service/whoami`);
    assert.equal(res.status, 200);
    await new Promise((r) => setTimeout(r, 500));
  } finally {
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    await exited;
  }
  const lines = output.split('\n');
  assert.ok(lines.some((l) => /^solutrix-api\s*\| \[\d\d:\d\d:\d\d\.\d{3}\] INFO: GET \/v1\/service\/whoami → 200 \([\d.]+ ms\)$/.test(l)), `no pretty request line:\n${output.slice(-2000)}`);
  assert.ok(!lines.some((l) => /^(idp|service-api|solutrix-api)\s*\| \{/.test(l)), 'a service line was printed as JSON');
  const credentials = join(dir, 'credentials');
  const secrets = readdirSync(credentials).map((f) => readFileSync(join(credentials, f), 'utf8').trim());
  assert.ok(secrets.length >= 2);
  for (const value of [...secrets, adminToken]) assert.ok(!output.includes(value), 'the output holds a secret');
});
