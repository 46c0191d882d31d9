import { expect, type APIRequestContext, type Page } from '@playwright/test';
import { adminToken, idpUrl } from './env.ts';

/** Starts at Solutrix's sign-in button and fills in the IDP's real login page. */
export async function signIn(page: Page, username: string, password: string): Promise<void> {
  await page.goto('/');
  await page.getByRole('link', { name: 'Sign in' }).click();
  await expect(page.locator('#username')).toBeVisible();
  await page.locator('#username').fill(username);
  await page.locator('#password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
}

/** A call to the IDP's admin API with the stack's admin token. */
export async function admin(request: APIRequestContext, method: 'GET' | 'POST' | 'DELETE', path: string, data?: unknown) {
  const res = await request.fetch(`${idpUrl}/api/global/admin${path}`, {
    method,
    headers: { authorization: `Bearer ${adminToken()}` },
    ...(data === undefined ? {} : { data }),
  });
  return res;
}

export async function subjectOf(request: APIRequestContext, username: string): Promise<string> {
  const res = await admin(request, 'GET', `/users/${username}`);
  expect(res.status()).toBe(200);
  return ((await res.json()) as { sub: string }).sub;
}
