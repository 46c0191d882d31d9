import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, defineConfig, devices } from '@playwright/test';
import { baseUrl, external, ports, stackDir } from './env.ts';

/** PLAYWRIGHT_CHROMIUM_EXECUTABLE, else Playwright's own Chromium if installed, else Debian's. */
function chromiumExecutable(): string | undefined {
  if (process.env.PLAYWRIGHT_CHROMIUM_EXECUTABLE) return process.env.PLAYWRIGHT_CHROMIUM_EXECUTABLE;
  try {
    if (existsSync(chromium.executablePath())) return undefined;
  } catch {
    // no bundled browser registered
  }
  return '/usr/bin/chromium';
}

/** `npm run test:e2e` (test/e2e.ts) runs this config once per format; each run keeps its own report. */
const tokenFormat = process.env.ACCESS_TOKEN_FORMAT === 'jwt' ? 'jwt' : 'opaque';

export default defineConfig({
  testDir: '.',
  outputDir: `../test-results/${tokenFormat}`,
  forbidOnly: !!process.env.CI,
  retries: process.env.CI ? 1 : 0,
  workers: 2,
  timeout: 30_000,
  expect: { timeout: 10_000 },
  reporter: [['list'], ['html', { outputFolder: `report/${tokenFormat}`, open: 'never' }]],
  use: {
    baseURL: baseUrl,
    screenshot: 'only-on-failure',
    trace: 'retain-on-failure',
    launchOptions: {
      executablePath: chromiumExecutable(),
      // Without the networking flags Chromium keeps calling home, which floods a closed network.
      args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
    },
  },
  projects: [
    { name: 'setup', testMatch: /.*\.setup\.ts/, use: { ...devices['Desktop Chrome'] } },
    {
      name: 'chromium',
      testMatch: /.*\.spec\.ts/,
      dependencies: ['setup'],
      use: { ...devices['Desktop Chrome'] },
    },
  ],
  webServer: external
    ? undefined
    : {
        command: 'npx tsx scripts/start.ts',
        cwd: join(import.meta.dirname, '..'),
        url: `http://127.0.0.1:${ports.solutrix}/healthz`,
        reuseExistingServer: false,
        timeout: 90_000,
        gracefulShutdown: { signal: 'SIGTERM', timeout: 10_000 },
        stdout: process.env.E2E_STACK_LOGS ? 'pipe' : 'ignore',
        stderr: 'pipe',
        env: {
          IDP_PORT: String(ports.idp),
          SERVICE_API_PORT: String(ports.serviceApi),
          SOLUTRIX_PORT: String(ports.solutrix),
          SOLUTRIX_PUBLIC_URL: baseUrl,
          IDP_DATA_DIR: join(stackDir!, 'idp'),
          SEED_CREDENTIALS_DIR: join(stackDir!, 'credentials'),
          IDP_ADMIN_TOKEN: process.env.E2E_ADMIN_TOKEN!,
          ACCESS_TOKEN_FORMAT: tokenFormat,
          LOG_LEVEL: process.env.E2E_STACK_LOGS ? 'info' : 'warn',
        },
      },
});
