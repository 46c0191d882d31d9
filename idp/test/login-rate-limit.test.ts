import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { adminRequest, registerClient, startIdp, type RegisteredClient, type TestIdp } from '../../test/support/idp.ts';
import { TestBrowser, authorizationRequest, followToCode } from './browser.ts';

const REDIRECT = 'http://127.0.0.1:9/callback';
let idp: TestIdp;
let web: RegisteredClient;
before(async () => {
  idp = await startIdp();
  web = await registerClient(idp, 'solutrix-web', ['openid'], { redirect_uris: [REDIRECT], grant_types: ['authorization_code'] });
  assert.equal((await adminRequest(idp, 'POST', '/users', { username: 'frank', password: 'frank-correct-horse' })).status, 201);
});
after(() => idp?.stop());

test('a new X-Forwarded-For on every try does not escape the login limit: the 11th try, even with the right password, is 429', async () => {
  const browser = new TestBrowser();
  const { page } = await followToCode(browser, await browser.request(authorizationRequest(idp, web, REDIRECT, 'openid').url), REDIRECT);
  const action = new URL(/<form method="post" action="([^"]+\/login)"/.exec(page.body)![1]!, page.url).href;
  const attempt = (password: string, i: number) =>
    browser.request(action, { form: { username: 'frank', password }, headers: { origin: new URL(page.url).origin, 'x-forwarded-for': `203.0.113.${i}` } });
  const statuses: number[] = [];
  for (let i = 1; i <= 10; i++) statuses.push((await attempt(`wrong-${i}`, i)).status);
  statuses.push((await attempt('frank-correct-horse', 11)).status);
  assert.deepEqual(statuses, [...Array(10).fill(401), 429]);
});
