import { expect, test } from '@playwright/test';
import { ALICE_STATE } from './env.ts';

test.use({ storageState: ALICE_STATE });

test('"Call as machine" shows the Service API answer for Solutrix\'s own token', async ({ page }) => {
  await page.goto('/');
  await expect(page.getByTestId('user-username')).toHaveText('alice');
  await page.getByRole('button', { name: 'Call as machine' }).click();

  await expect(page).toHaveURL(/\/machine\??$/);
  await expect(page.getByTestId('machine-whoami-client-id')).toHaveText('solutrix-api');
  await expect(page.getByTestId('machine-whoami-kind')).toHaveText('machine');
  const machine = JSON.parse((await page.getByTestId('machine-whoami').textContent())!) as { clientId: string; kind: string };
  expect(machine).toMatchObject({ clientId: 'solutrix-api', kind: 'machine' });
  // The user's own call is still there, and still the user's.
  await expect(page.getByTestId('user-whoami-kind')).toHaveText('user');
});

test('the home page is served under a strict CSP and never framed', async ({ page }) => {
  const response = await page.goto('/');
  const headers = response!.headers();
  expect(headers['content-security-policy']).toMatch(/default-src 'none'/);
  expect(headers['content-security-policy']).toMatch(/frame-ancestors 'none'/);
  expect(headers['referrer-policy']).toBe('no-referrer');
  expect(headers['x-content-type-options']).toBe('nosniff');
});
