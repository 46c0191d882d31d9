import { expect, test as setup } from '@playwright/test';
import { alice, ALICE_STATE } from './env.ts';
import { signIn } from './support.ts';

setup('sign in as alice once', async ({ page }) => {
  await signIn(page, alice.username, alice.password);
  await expect(page.getByTestId('user-username')).toHaveText('alice');
  await page.context().storageState({ path: ALICE_STATE });
});
