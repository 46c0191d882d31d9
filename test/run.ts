// Runs every `*/test/**/*.test.ts` with node's test runner (tsx as loader): the unit suite once, then
// the integration suite (test/integration/) once per access-token format, with
// ACCESS_TOKEN_FORMAT=opaque and then =jwt. A file named `*.<format>.test.ts` runs in that pass only.
// Pass paths to run just those, once, in the current environment.
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';

const roots = ['idp', 'service-api', 'solutrix-api', 'test'];
const INTEGRATION_DIR = 'test/integration/';
const FORMATS = ['opaque', 'jwt'] as const;

function run(label: string, files: string[], env: Record<string, string> = {}): boolean {
  console.log(`\n▶ ${label}: ${files.length} file(s)`);
  const started = performance.now();
  const result = spawnSync(
    process.execPath,
    ['--import', 'tsx', '--test', '--test-concurrency=2', '--test-timeout=180000', ...files],
    { stdio: 'inherit', env: { ...process.env, LOG_LEVEL: process.env.LOG_LEVEL ?? 'silent', ...env } },
  );
  const ok = result.status === 0;
  summary.push(`${ok ? '✔' : '✖'} ${label} (${((performance.now() - started) / 1000).toFixed(1)} s)`);
  return ok;
}

const summary: string[] = [];
const args = process.argv.slice(2);
let ok: boolean;
if (args.length > 0) {
  ok = run('selected files', args);
} else {
  const all = roots
    .flatMap((root) =>
      readdirSync(root, { recursive: true, encoding: 'utf8' })
        .map((f) => `${root}/${f}`)
        .filter((f) => f.endsWith('.test.ts') && f.split('/').includes('test')),
    )
    .sort();
  if (all.length === 0) {
    console.error('no test files found');
    process.exit(1);
  }
  const integration = all.filter((f) => f.startsWith(INTEGRATION_DIR));
  ok = run('unit', all.filter((f) => !f.startsWith(INTEGRATION_DIR)));
  for (const format of FORMATS) {
    const files = integration.filter((f) => {
      const only = /\.(\w+)\.test\.ts$/.exec(f)?.[1];
      return only === undefined || !(FORMATS as readonly string[]).includes(only) || only === format;
    });
    ok = run(`integration, ACCESS_TOKEN_FORMAT=${format}`, files, { ACCESS_TOKEN_FORMAT: format }) && ok;
  }
}
console.log(`\n${summary.join('\n')}`);
process.exit(ok ? 0 : 1);
