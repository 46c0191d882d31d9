import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, test } from 'node:test';
import { adminRequest } from '../../../test/support/idp.ts';
import { signIn, TestBrowser } from './browser.ts';
import { defaultAnswer, introspect, startWebFixture, type WebFixture } from './fixture.ts';

describe('user access tokens (real IDP, app clock moved forward)', () => {
  let fx: WebFixture;
  before(async () => {
    fx = await startWebFixture();
    await fx.createUser('alice', 'alice-test-password');
  });
  after(async () => {
    await fx?.close();
  });
  beforeEach(() => {
    fx.answer = defaultAnswer;
  });

  test('reuses the access token while it is valid, refreshes it within 30 s of expiry', async () => {
    const browser = new TestBrowser();
    await signIn(browser, fx.solutrix, 'alice', 'alice-test-password');
    const first = fx.bearers().at(-1)!;
    const refreshes = fx.userTokens.stats.refreshes;

    await browser.request(`${fx.solutrix}/`);
    assert.equal(fx.bearers().at(-1), first);
    assert.equal(fx.userTokens.stats.refreshes, refreshes);

    fx.advanceClock(3600_000 - 29_000); // the IDP's default access token lifetime is 3600 s
    const page = await browser.request(`${fx.solutrix}/`);
    assert.equal(page.status, 200);
    assert.match(page.body, /data-testid="user-whoami-kind">user</);
    const second = fx.bearers().at(-1)!;
    assert.notEqual(second, first);
    assert.equal(fx.userTokens.stats.refreshes, refreshes + 1);
    assert.equal((await introspect(fx, second)).active, true);

    // The refreshed token was saved in the session: the next page uses it without refreshing.
    await browser.request(`${fx.solutrix}/`);
    assert.equal(fx.bearers().at(-1), second);
    assert.equal(fx.userTokens.stats.refreshes, refreshes + 1);
  });

  test('a 401 from the Service API refreshes the token and retries once', async () => {
    const browser = new TestBrowser();
    await signIn(browser, fx.solutrix, 'alice', 'alice-test-password');
    const rejected = fx.bearers().at(-1)!;
    fx.answer = (token) => (token === rejected ? { status: 401, json: { error: 'invalid_token' } } : defaultAnswer(token));
    const refreshes = fx.userTokens.stats.refreshes;
    const page = await browser.request(`${fx.solutrix}/`);
    assert.match(page.body, /data-testid="user-whoami-kind">user</);
    assert.equal(fx.userTokens.stats.refreshes, refreshes + 1);
    assert.deepEqual(fx.bearers().slice(-2).map((t) => t === rejected), [true, false]);
  });

  test('a refused refresh signs the user out cleanly', async () => {
    await fx.createUser('carol', 'carol-test-password');
    const browser = new TestBrowser();
    await signIn(browser, fx.solutrix, 'carol', 'carol-test-password');
    // The IDP refuses to refresh a grant whose account is gone.
    assert.equal((await adminRequest(fx.idp, 'DELETE', '/users/carol')).status, 204);
    fx.advanceClock(2 * 3600_000);

    const page = await browser.request(`${fx.solutrix}/`);
    assert.equal(page.status, 200);
    assert.match(page.body, /data-testid="notice">Your session has expired. Sign in again.</);
    assert.match(page.body, /data-testid="signed-out"/);
    assert.equal(browser.cookies(fx.solutrix).has('solutrix.sid'), false, 'the session cookie is cleared');
    const next = await browser.request(`${fx.solutrix}/`);
    assert.doesNotMatch(next.body, /Your session has expired/);
    assert.match(next.body, /data-testid="signed-out"/);
  });

  test('the IDP being down during a refresh keeps the session and says so', async () => {
    const browser = new TestBrowser();
    await signIn(browser, fx.solutrix, 'alice', 'alice-test-password');
    fx.advanceClock(2 * 3600_000);
    await fx.idp.stop();
    try {
      const page = await browser.request(`${fx.solutrix}/`);
      assert.equal(page.status, 200);
      assert.match(page.body, /data-testid="user-whoami-error">503 temporarily_unavailable: the identity provider is unavailable</);
      assert.equal(browser.cookies(fx.solutrix).has('solutrix.sid'), true);
    } finally {
      fx.idp = await fx.idp.restart();
    }
    const page = await browser.request(`${fx.solutrix}/`);
    assert.match(page.body, /data-testid="user-whoami-kind">user</);
  });
});
