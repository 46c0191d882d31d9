import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createServer } from 'node:http';
import { pino } from 'pino';
import { close, listen } from '../../../lib/server.ts';
import { createApp } from '../../src/app.ts';
import { loadConfig } from '../../src/config.ts';
import { deadUrl } from '../helpers/stubs.ts';
import { signIn, TestBrowser } from './browser.ts';
import { introspect, startWebFixture, type WebFixture } from './fixture.ts';

describe('web login (real IDP)', () => {
  let fx: WebFixture;
  let aliceSub: string;
  before(async () => {
    fx = await startWebFixture();
    aliceSub = await fx.createUser('alice', 'alice-test-password');
  });
  after(async () => {
    await fx?.close();
  });

  test('GET / signed out shows a sign-in link under a strict CSP, and sets no cookie', async () => {
    const res = await new TestBrowser().request(`${fx.solutrix}/`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type')!, /^text\/html/);
    assert.match(res.body, /<a class="button" href="\/login">Sign in<\/a>/);
    assert.match(res.body, /data-testid="signed-out"/);
    const csp = res.headers.get('content-security-policy')!;
    assert.match(csp, /default-src 'none'/);
    assert.match(csp, /frame-ancestors 'none'/);
    const nonce = /style-src 'nonce-([^']+)'/.exec(csp)?.[1];
    assert.ok(nonce);
    assert.ok(res.body.includes(`<style nonce="${nonce}">`));
    assert.equal(res.headers.get('referrer-policy'), 'no-referrer');
    assert.equal(res.headers.get('x-content-type-options'), 'nosniff');
    assert.deepEqual(res.headers.getSetCookie(), []);
  });

  test('/login redirects to the IDP with PKCE S256, state, nonce, offline_access and prompt=consent', async () => {
    const browser = new TestBrowser();
    const res = await browser.request(`${fx.solutrix}/login`);
    assert.equal(res.status, 303);
    const location = new URL(res.headers.get('location')!);
    assert.equal(`${location.origin}${location.pathname}`, `${fx.idp.issuer}/auth`);
    const q = location.searchParams;
    assert.equal(q.get('response_type'), 'code');
    assert.equal(q.get('client_id'), 'solutrix-web');
    assert.equal(q.get('redirect_uri'), `${fx.solutrix}/callback`);
    assert.equal(q.get('code_challenge_method'), 'S256');
    assert.match(q.get('code_challenge')!, /^[A-Za-z0-9_-]{43}$/);
    assert.match(q.get('state')!, /^[A-Za-z0-9_-]{20,}$/);
    assert.match(q.get('nonce')!, /^[A-Za-z0-9_-]{20,}$/);
    assert.equal(q.get('scope'), 'openid profile email offline_access service.api');
    assert.equal(q.get('prompt'), 'consent');
    const [cookie] = res.headers.getSetCookie();
    assert.match(cookie!, /^solutrix\.sid=s%3A/);
    assert.match(cookie!, /HttpOnly/);
    assert.match(cookie!, /SameSite=Lax/);
    assert.doesNotMatch(cookie!, /Secure/);
  });

  test('signs in through the IDP: new session id, profile shown, the user token stays on the server', async () => {
    const browser = new TestBrowser();
    const result = await signIn(browser, fx.solutrix, 'alice', 'alice-test-password');
    const preLoginSid = result.first.hops[0]!.headers.getSetCookie()[0]!.split(';')[0]!.split('=')[1];
    const callback = result.hops.find((h) => h.url.startsWith(`${fx.solutrix}/callback`))!;
    assert.equal(callback.status, 303);
    assert.equal(callback.headers.get('location'), '/');
    const postLoginSid = browser.cookies(fx.solutrix).get('solutrix.sid');
    assert.ok(postLoginSid);
    assert.notEqual(postLoginSid, preLoginSid, 'the session id changes at sign-in (fixation)');

    const home = result.last;
    assert.equal(home.url, `${fx.solutrix}/`);
    assert.equal(home.status, 200);
    assert.match(home.body, /data-testid="user-name">alice Example</);
    assert.match(home.body, /data-testid="user-username">alice</);
    assert.ok(home.body.includes(`data-testid="user-sub">${aliceSub}<`));
    assert.match(home.body, /data-testid="user-whoami-kind">user</);
    assert.match(home.body, /<form method="post" action="\/logout"><input type="hidden" name="csrf" value="[A-Za-z0-9_-]+">/);

    const token = fx.bearers().at(-1)!;
    assert.ok(token, 'the Service API got a bearer token');
    assert.ok(!home.body.includes(token), 'the page never shows the access token');
    const info = await introspect(fx, token);
    assert.equal(info.active, true);
    assert.equal(info.sub, aliceSub);
    assert.equal(info.client_id, 'solutrix-web');
    assert.ok(String(info.scope).split(' ').includes('service.api'));

    // The old (pre-login) session id is gone.
    const stale = new TestBrowser();
    stale.cookies(fx.solutrix).set('solutrix.sid', preLoginSid!);
    assert.match((await stale.request(`${fx.solutrix}/`)).body, /data-testid="signed-out"/);
  });

  test('/machine adds the machine call; signed out it redirects to /', async () => {
    const browser = new TestBrowser();
    await signIn(browser, fx.solutrix, 'alice', 'alice-test-password');
    const before = fx.serviceApi.requests.length;
    const res = await browser.request(`${fx.solutrix}/machine`);
    assert.equal(res.status, 200);
    assert.match(res.body, /data-testid="machine-whoami"/);
    const sent = fx.serviceApi.requests.slice(before).map((r) => r.headers.authorization);
    assert.ok(sent.includes('Bearer machine-token'));
    assert.equal(sent.length, 2);

    const anonymous = await new TestBrowser().request(`${fx.solutrix}/machine`);
    assert.equal(anonymous.status, 303);
    assert.equal(anonymous.headers.get('location'), '/');
  });

  test('a wrong password stays on the IDP login page (401) and signs nobody in', async () => {
    const browser = new TestBrowser();
    const result = await signIn(browser, fx.solutrix, 'alice', 'wrong-password');
    assert.equal(result.last.status, 401);
    assert.match(result.last.body, /<p class="error" role="alert">Invalid username or password.<\/p>/);
    assert.match((await browser.request(`${fx.solutrix}/`)).body, /data-testid="signed-out"/);
  });

  test('/callback with an unknown state is a 400 page, not a 500', async () => {
    const browser = new TestBrowser();
    await browser.request(`${fx.solutrix}/login`);
    const res = await browser.request(`${fx.solutrix}/callback?code=abc&state=not-the-state`);
    assert.equal(res.status, 400);
    assert.match(res.headers.get('content-type')!, /^text\/html/);
    assert.match(res.body, /This sign-in attempt is unknown or has expired/);

    const noSession = await new TestBrowser().request(`${fx.solutrix}/callback?code=abc`);
    assert.equal(noSession.status, 400);
  });

  test('/callback?error=access_denied (the user cancelled) is a 400 page naming the error', async () => {
    const browser = new TestBrowser();
    const login = await browser.request(`${fx.solutrix}/login`);
    const state = new URL(login.headers.get('location')!).searchParams.get('state')!;
    const res = await browser.request(`${fx.solutrix}/callback?error=access_denied&error_description=the+user+cancelled+the+request&state=${state}`);
    assert.equal(res.status, 400);
    assert.match(res.body, /access_denied: the user cancelled the request/);
    // That state is used up.
    const again = await browser.request(`${fx.solutrix}/callback?code=abc&state=${state}`);
    assert.equal(again.status, 400);
    assert.match(again.body, /unknown or has expired/);
  });

  test('a code that does not redeem (wrong code for this state) is a 400 page', async () => {
    const browser = new TestBrowser();
    const login = await browser.request(`${fx.solutrix}/login`);
    const state = new URL(login.headers.get('location')!).searchParams.get('state')!;
    const res = await browser.request(`${fx.solutrix}/callback?code=forged-code&state=${state}&iss=${encodeURIComponent(fx.idp.issuer)}`);
    assert.equal(res.status, 400);
    assert.match(res.body, /could not be completed/);
  });
});

describe('web login without a reachable IDP', () => {
  test('the app starts, and /login answers 503 with Retry-After instead of crashing', async () => {
    const idp = await deadUrl();
    const config = loadConfig({
      IDP_ISSUER: `${idp}/oauth`,
      IDP_CLIENT_SECRET: 'x',
      WEB_CLIENT_SECRET: 'y',
      SOLUTRIX_PUBLIC_URL: 'http://localhost:3000',
    });
    const server = createServer(createApp(config, { log: pino({ level: 'silent' }) }));
    const port = await listen(server, 0, '127.0.0.1');
    try {
      const res = await fetch(`http://127.0.0.1:${port}/login`, { redirect: 'manual' });
      assert.equal(res.status, 503);
      assert.equal(res.headers.get('retry-after'), '5');
      assert.match(await res.text(), /The sign-in service is unavailable right now/);
    } finally {
      await close(server);
    }
  });
});
