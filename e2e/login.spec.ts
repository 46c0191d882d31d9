import { expect, test } from '@playwright/test';
import { alice, baseUrl, idpUrl } from './env.ts';
import { signIn, subjectOf } from './support.ts';

test.describe('signing in through the IDP', () => {
  test('alice sees the Service API answer for her own token: her sub, kind user, scope service.api', async ({ page, request }) => {
    const sub = await subjectOf(request, 'alice');
    await signIn(page, alice.username, alice.password);

    await expect(page).toHaveURL(`${baseUrl}/`);
    await expect(page.getByTestId('user-username')).toHaveText('alice');
    await expect(page.getByTestId('user-sub')).toHaveText(sub);
    await expect(page.getByTestId('user-whoami-subject')).toHaveText(sub);
    await expect(page.getByTestId('user-whoami-kind')).toHaveText('user');
    await expect(page.getByTestId('user-whoami-client-id')).toHaveText('solutrix-web');
    const whoami = JSON.parse((await page.getByTestId('user-whoami').textContent())!) as { scopes: string[] };
    expect(whoami.scopes).toContain('service.api');
    // The token stays on the server: the browser holds only an HttpOnly session cookie.
    const cookies = await page.context().cookies(baseUrl);
    const session = cookies.find((c) => c.name === 'solutrix.sid');
    expect(session?.httpOnly).toBe(true);
    expect(session?.sameSite).toBe('Lax');
  });

  test('a wrong password shows the IDP error and signs nobody in', async ({ page }) => {
    await signIn(page, alice.username, 'not-alices-password');
    await expect(page).toHaveURL(new RegExp(`^${idpUrl}/interaction/`));
    await expect(page.getByRole('alert')).toHaveText('Invalid username or password.');
    await page.goto('/');
    await expect(page.getByTestId('signed-out')).toBeVisible();
  });

  test('sign out ends the Solutrix session and the IDP session', async ({ page }) => {
    await signIn(page, alice.username, alice.password);
    await expect(page.getByTestId('user-username')).toHaveText('alice');

    await page.getByRole('button', { name: 'Sign out' }).click();
    await expect(page.getByRole('heading', { name: /^Sign out of / })).toBeVisible();
    await page.getByRole('button', { name: 'Yes, sign me out' }).click();
    await expect(page).toHaveURL(`${baseUrl}/`);
    await expect(page.getByTestId('signed-out')).toBeVisible();

    // Were the IDP session alive, /login would come straight back signed in.
    await page.goto('/login');
    await expect(page.locator('#username')).toBeVisible();
    await expect(page).toHaveURL(new RegExp(`^${idpUrl}/interaction/`));
  });
});
