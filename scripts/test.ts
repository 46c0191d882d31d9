// Runs every `*/test/**/*.test.ts` with node's test runner (tsx as loader). Pass paths to run fewer.
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';

const roots = ['idp', 'service-api', 'solutrix-api', 'scripts', 'lib'];
const files = process.argv.slice(2).length
  ? process.argv.slice(2)
  : roots.flatMap((root) =>
      readdirSync(root, { recursive: true, encoding: 'utf8' })
        .filter((f) => f.endsWith('.test.ts') && f.split('/').includes('test'))
        .map((f) => `${root}/${f}`),
    ).sort();

if (files.length === 0) {
  console.error('no test files found');
  process.exit(1);
}

const result = spawnSync(
  process.execPath,
  ['--import', 'tsx', '--test', '--test-concurrency=2', '--test-timeout=60000', ...files],
  { stdio: 'inherit', env: { ...process.env, LOG_LEVEL: process.env.LOG_LEVEL ?? 'silent' } },
);
process.exit(result.status ?? 1);
