// `npm run test:e2e`: the Playwright suite once per access-token format (ACCESS_TOKEN_FORMAT=opaque,
// then jwt), each run against a fresh stack started by e2e/playwright.config.ts on the same test ports,
// one after the other. E2E_FORMATS=jwt (or opaque) runs one; against an external stack
// (E2E_BASE_URL) the suite runs once, in whatever format that stack uses. Extra arguments go to
// `playwright test`.
import { spawnSync } from 'node:child_process';

const external = !!process.env.E2E_BASE_URL;
const formats = external ? ['external'] : (process.env.E2E_FORMATS ?? 'opaque,jwt').split(',').map((f) => f.trim()).filter(Boolean);
const summary: string[] = [];
let ok = true;
for (const format of formats) {
  if (!external && format !== 'opaque' && format !== 'jwt') {
    console.error(`E2E_FORMATS: unknown format "${format}" (opaque, jwt)`);
    process.exit(1);
  }
  console.log(`\n▶ e2e, ACCESS_TOKEN_FORMAT=${format}`);
  const started = performance.now();
  const result = spawnSync('npx', ['playwright', 'test', '-c', 'e2e/playwright.config.ts', ...process.argv.slice(2)], {
    stdio: 'inherit',
    env: { ...process.env, ...(external ? {} : { ACCESS_TOKEN_FORMAT: format }) },
  });
  ok = result.status === 0 && ok;
  summary.push(`${result.status === 0 ? '✔' : '✖'} e2e ${format} (${((performance.now() - started) / 1000).toFixed(1)} s)`);
}
console.log(`\n${summary.join('\n')}`);
process.exit(ok ? 0 : 1);
