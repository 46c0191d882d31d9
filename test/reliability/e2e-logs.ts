// `npx tsx test/reliability/e2e-logs.ts`: runs the Playwright suite with the stack's logs on
// (E2E_STACK_LOGS=1, log level info) and fails if that output holds a client secret, the admin token,
// a demo password or anything shaped like a JWT (ID tokens, JWT access tokens). Not part of `npm test`:
// it runs the whole e2e suite again (1-2 minutes).
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT } from '../support/process.ts';

const stackDir = mkdtempSync(join(tmpdir(), 'solutrix-e2e-logs-'));
const adminToken = randomBytes(24).toString('base64url');
const env: NodeJS.ProcessEnv = { ...process.env, E2E_STACK_LOGS: '1', E2E_STACK_DIR: stackDir, E2E_ADMIN_TOKEN: adminToken };
delete env.E2E_BASE_URL;

const child = spawn(process.execPath, [join(ROOT, 'node_modules/@playwright/test/cli.js'), 'test', '-c', 'e2e/playwright.config.ts', '--reporter=list'], {
  cwd: ROOT,
  env,
  stdio: ['ignore', 'pipe', 'pipe'],
});
let output = '';
child.stdout.on('data', (c) => (output += c));
child.stderr.on('data', (c) => (output += c));
const timer = setTimeout(() => child.kill('SIGTERM'), 300_000);
const code: number = await new Promise((resolve) => child.on('exit', (c) => resolve(c ?? 1)));
clearTimeout(timer);

const credentials = join(stackDir, 'credentials');
const secrets = readdirSync(credentials).map((f) => ({ kind: `client secret ${f}`, value: readFileSync(join(credentials, f), 'utf8').trim() }));
const needles = [
  ...secrets,
  { kind: 'admin token', value: adminToken },
  { kind: 'demo password', value: process.env.SEED_ALICE_PASSWORD || 'alice-local-only' },
  { kind: 'demo password', value: process.env.SEED_BOB_PASSWORD || 'bob-local-only' },
];
const found = needles.filter(({ value }) => value && output.includes(value)).map(({ kind }) => kind);
if (/eyJ[A-Za-z0-9_-]{10,}\.eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]+/.test(output)) found.push('a JWT');
const requestLines = output.split('\n').filter((l) => l.includes('"msg":"request"')).length;

for (const line of output.split('\n')) if (/^\s*\d+ (passed|failed|flaky|skipped)/.test(line)) console.log(`playwright: ${line.trim()}`);
console.log(`e2e exit ${code}; ${output.length} bytes of output, ${requestLines} request log lines, ${secrets.length} client secrets checked`);
if (requestLines === 0) {
  console.error('no request log lines: the stack logs were not captured');
  process.exit(1);
}
if (found.length) {
  console.error(`the e2e output contains: ${found.join(', ')}`);
  process.exit(1);
}
process.exit(code);
