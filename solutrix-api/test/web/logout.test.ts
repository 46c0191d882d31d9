import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { signIn, TestBrowser } from './browser.ts';
import { introspect, startWebFixture, type WebFixture } from './fixture.ts';

describe('POST /logout (real IDP)', () => {
  let fx: WebFixture;
  before(async () => {
    fx = await startWebFixture();
    await fx.createUser('alice', 'alice-test-password');
  });
  after(async () => {
    await fx?.close();
  });

  async function signedIn() {
    const browser = new TestBrowser();
    const { last } = await signIn(browser, fx.solutrix, 'alice', 'alice-test-password');
    const csrf = /name="csrf" value="([^"]+)"/.exec(last.body)![1]!;
    return { browser, csrf };
  }

  test('refuses a post without the session token or from another origin (403), keeping the session', async () => {
    const { browser, csrf } = await signedIn();
    const noToken = await browser.request(`${fx.solutrix}/logout`, { form: {}, headers: { origin: fx.solutrix } });
    assert.equal(noToken.status, 403);
    const crossSite = await browser.request(`${fx.solutrix}/logout`, { form: { csrf }, headers: { origin: 'http://evil.example' } });
    assert.equal(crossSite.status, 403);
    const crossSiteFetch = await browser.request(`${fx.solutrix}/logout`, { form: { csrf }, headers: { 'sec-fetch-site': 'cross-site' } });
    assert.equal(crossSiteFetch.status, 403);
    assert.match((await browser.request(`${fx.solutrix}/`)).body, /data-testid="user-sub"/);
  });

  test('ends the Solutrix session, revokes the refresh token and sends the browser to end_session', async () => {
    const { browser, csrf } = await signedIn();
    const accessToken = fx.bearers().at(-1)!;
    // Referrer-Policy no-referrer makes browsers send `Origin: null` on our own form posts.
    const res = await browser.request(`${fx.solutrix}/logout`, { form: { csrf }, headers: { origin: 'null', 'sec-fetch-site': 'same-origin' } });
    assert.equal(res.status, 303);
    const location = new URL(res.headers.get('location')!);
    assert.equal(`${location.origin}${location.pathname}`, `${fx.idp.issuer}/session/end`);
    assert.equal(location.searchParams.get('post_logout_redirect_uri'), `${fx.solutrix}/`);
    assert.equal(location.searchParams.get('client_id'), 'solutrix-web');
    assert.match(location.searchParams.get('id_token_hint')!, /^ey[\w-]+\.[\w-]+\.[\w-]+$/);
    assert.equal(browser.cookies(fx.solutrix).has('solutrix.sid'), false);
    assert.match((await browser.request(`${fx.solutrix}/`)).body, /data-testid="signed-out"/);

    // The IDP asks to confirm; the end_session page is served for this id_token_hint.
    const confirm = await browser.follow(location.href);
    assert.equal(confirm.last.status, 200);
    assert.match(confirm.last.body, /Yes, sign me out/);
    // Revoking the refresh token also ends the access tokens of that grant in oidc-provider.
    assert.equal((await introspect(fx, accessToken)).active, false);
  });
});
