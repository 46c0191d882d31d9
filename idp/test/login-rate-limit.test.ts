import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { adminRequest, registerClient, startIdp, type RegisteredClient, type TestIdp } from '../../test/support/idp.ts';
import { TestBrowser, authorizationRequest, followToCode } from './browser.ts';

const REDIRECT = 'http://127.0.0.1:9/callback';
let idp: TestIdp;
let web: RegisteredClient;
// Behind a proxy on 127.0.0.1: X-Forwarded-For from that peer is believed (right-most untrusted entry).
let proxied: TestIdp;
let proxiedWeb: RegisteredClient;
before(async () => {
  [idp, proxied] = await Promise.all([startIdp(), startIdp({ env: { IDP_TRUSTED_PROXIES: '127.0.0.1' } })]);
  web = await registerClient(idp, 'solutrix-web', ['openid'], { redirect_uris: [REDIRECT], grant_types: ['authorization_code'] });
  assert.equal((await adminRequest(idp, 'POST', '/users', { username: 'frank', password: 'frank-correct-horse' })).status, 201);
  proxiedWeb = await registerClient(proxied, 'solutrix-web', ['openid'], { redirect_uris: [REDIRECT], grant_types: ['authorization_code'] });
  for (const username of ['grace', 'heidi', 'ivan']) {
    assert.equal((await adminRequest(proxied, 'POST', '/users', { username, password: `${username}-correct-horse` })).status, 201);
  }
});
after(() => Promise.all([idp?.stop(), proxied?.stop()]));

/** A new sign-in at `server`: a function that posts one login form with the given X-Forwarded-For. */
async function loginForm(server: TestIdp, client: RegisteredClient) {
  const browser = new TestBrowser();
  const { page } = await followToCode(browser, await browser.request(authorizationRequest(server, client, REDIRECT, 'openid').url), REDIRECT);
  const action = new URL(/<form method="post" action="([^"]+\/login)"/.exec(page.body)![1]!, page.url).href;
  return (username: string, password: string, forwardedFor: string) =>
    browser.request(action, { form: { username, password }, headers: { origin: new URL(page.url).origin, 'x-forwarded-for': forwardedFor } });
}

test('a new X-Forwarded-For on every try does not escape the login limit: the 11th try, even with the right password, is 429', async () => {
  const form = await loginForm(idp, web);
  const attempt = (password: string, i: number) => form('frank', password, `203.0.113.${i}`);
  const statuses: number[] = [];
  for (let i = 1; i <= 10; i++) statuses.push((await attempt(`wrong-${i}`, i)).status);
  statuses.push((await attempt('frank-correct-horse', 11)).status);
  assert.deepEqual(statuses, [...Array(10).fill(401), 429]);
});

test('behind a trusted proxy the forwarded address is the key: two forwarded addresses get separate budgets, left-most entries are ignored', async () => {
  const attempt = await loginForm(proxied, proxiedWeb);
  const statuses: number[] = [];
  for (let i = 1; i <= 10; i++) statuses.push((await attempt('grace', `wrong-${i}`, '203.0.113.1')).status);
  // A caller may put anything left of what the proxy appended: it does not make a new budget.
  statuses.push((await attempt('grace', 'wrong-11', '198.51.100.7, 203.0.113.1')).status);
  assert.deepEqual(statuses, [...Array(10).fill(401), 429]);
  const other = await attempt('grace', 'grace-correct-horse', '203.0.113.2');
  assert.ok(other.status >= 300 && other.status < 400, `another forwarded address signs in: ${other.status}`);
});

test('the per-username limit holds across addresses: 20 failures for one username from 20 addresses → 429 for it, with the right password too; other usernames are not affected', async () => {
  const attempt = await loginForm(proxied, proxiedWeb);
  const statuses: number[] = [];
  for (let i = 1; i <= 20; i++) statuses.push((await attempt('heidi', `wrong-${i}`, `203.0.113.${100 + i}`)).status);
  assert.deepEqual(statuses, Array(20).fill(401));
  const locked = await attempt('heidi', 'heidi-correct-horse', '203.0.113.200');
  assert.equal(locked.status, 429);
  const retryAfter = Number(locked.headers.get('retry-after'));
  assert.ok(retryAfter > 850 && retryAfter <= 900, `Retry-After ${retryAfter}: the rest of the 15-minute window`);
  assert.match(locked.body, /Too many failed attempts\. Wait 15 minutes and try again\./);
  const other = await attempt('ivan', 'ivan-correct-horse', '203.0.113.200');
  assert.ok(other.status >= 300 && other.status < 400, `another username signs in from the same address: ${other.status}`);
});
