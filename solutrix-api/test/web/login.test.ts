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
    const signedInBefore = fx.sessions.size;
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
    // The pending sign-in lives in an encrypted cookie of its own: no server-side session yet.
    const cookies = res.headers.getSetCookie();
    assert.equal(cookies.length, 1);
    const [cookie] = cookies;
    assert.match(cookie!, /^solutrix\.login=[A-Za-z0-9_-]{100,}; Max-Age=600; Path=\/; Expires=[^;]+; HttpOnly; SameSite=Lax$/);
    assert.doesNotMatch(cookie!, new RegExp(q.get('state')!));
    assert.equal(fx.sessions.size, signedInBefore);
  });

  test('signs in through the IDP: new session id, profile shown, the user token stays on the server', async () => {
    // Session fixation: no session id exists before the sign-in (the pending one is in the login
    // cookie), and one planted in the browser beforehand is not adopted.
    const preLoginSid = 's%3Aplanted-by-an-attacker.c2lnbmF0dXJl';
    const browser = new TestBrowser();
    browser.cookies(fx.solutrix).set('solutrix.sid', preLoginSid);
    const result = await signIn(browser, fx.solutrix, 'alice', 'alice-test-password');
    assert.deepEqual(result.first.hops[0]!.headers.getSetCookie().map((c) => c.split('=')[0]), ['solutrix.login']);
    const callback = result.hops.find((h) => h.url.startsWith(`${fx.solutrix}/callback`))!;
    assert.equal(callback.status, 303);
    assert.equal(callback.headers.get('location'), '/');
    const postLoginSid = browser.cookies(fx.solutrix).get('solutrix.sid');
    assert.ok(postLoginSid);
    assert.notEqual(postLoginSid, preLoginSid, 'the session id changes at sign-in (fixation)');
    assert.equal(browser.cookies(fx.solutrix).has('solutrix.login'), false, 'the used-up login cookie is cleared');

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

    // The planted (pre-login) session id is gone.
    const stale = new TestBrowser();
    stale.cookies(fx.solutrix).set('solutrix.sid', preLoginSid);
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

  test('/callback?error=… without the state of a pending sign-in shows a fixed message, never the text sent', async () => {
    const phishing = 'Your+account+is+locked.+Call+%2B1-555-0100+now';
    const browser = new TestBrowser();
    const login = await browser.request(`${fx.solutrix}/login`);
    const state = new URL(login.headers.get('location')!).searchParams.get('state')!;
    for (const query of [
      `error=access_denied&error_description=${phishing}`,
      `error=access_denied&error_description=${phishing}&state=made-up-state`,
    ]) {
      const res = await browser.request(`${fx.solutrix}/callback?${query}`);
      assert.equal(res.status, 400);
      assert.match(res.body, /<p class="error" role="alert" data-testid="error">This sign-in attempt is unknown or has expired. Start again from Solutrix.<\/p>/);
      assert.doesNotMatch(res.body, /locked|555|access_denied/);
    }
    // A browser that never started a sign-in, even with a real state of someone else's.
    const other = await new TestBrowser().request(`${fx.solutrix}/callback?error=access_denied&error_description=${phishing}&state=${state}`);
    assert.equal(other.status, 400);
    assert.doesNotMatch(other.body, /locked|555|access_denied/);
    // The real sign-in is still pending: the forged callbacks did not use it up.
    const real = await browser.request(`${fx.solutrix}/callback?error=access_denied&error_description=the+user+cancelled&state=${state}`);
    assert.match(real.body, /access_denied: the user cancelled/);
  });

  test('a pending sign-in expires after 10 minutes', async () => {
    const browser = new TestBrowser();
    const login = await browser.request(`${fx.solutrix}/login`);
    const state = new URL(login.headers.get('location')!).searchParams.get('state')!;
    fx.advanceClock(10 * 60_000);
    try {
      const res = await browser.request(`${fx.solutrix}/callback?error=access_denied&state=${state}`);
      assert.equal(res.status, 400);
      assert.match(res.body, /This sign-in attempt is unknown or has expired/);
    } finally {
      fx.advanceClock(-10 * 60_000);
    }
  });

  test('a login cookie that was tampered with is no pending sign-in', async () => {
    const browser = new TestBrowser();
    const login = await browser.request(`${fx.solutrix}/login`);
    const state = new URL(login.headers.get('location')!).searchParams.get('state')!;
    const jar = browser.cookies(fx.solutrix);
    const sealed = jar.get('solutrix.login')!;
    const flipped = sealed.slice(0, 40) + (sealed[40] === 'A' ? 'B' : 'A') + sealed.slice(41);
    jar.set('solutrix.login', flipped);
    const res = await browser.request(`${fx.solutrix}/callback?error=access_denied&state=${state}`);
    assert.equal(res.status, 400);
    assert.match(res.body, /This sign-in attempt is unknown or has expired/);
  });

  test('five sign-ins started in parallel tabs each stay pending; a sixth drops the oldest', async () => {
    const browser = new TestBrowser();
    const states: string[] = [];
    for (let i = 0; i < 6; i++) {
      const login = await browser.request(`${fx.solutrix}/login`);
      states.push(new URL(login.headers.get('location')!).searchParams.get('state')!);
    }
    assert.ok(browser.cookies(fx.solutrix).get('solutrix.login')!.length < 2048);
    const answer = async (state: string) => (await browser.request(`${fx.solutrix}/callback?error=access_denied&state=${state}`)).body;
    assert.match(await answer(states[0]!), /unknown or has expired/);
    for (const state of states.slice(1)) assert.match(await answer(state), /\(access_denied\)/);
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

describe('a flood of anonymous sign-ins (SESSION_MAX=3)', () => {
  let fx: WebFixture;
  before(async () => {
    fx = await startWebFixture({ SESSION_MAX: '3' });
    await fx.createUser('alice', 'alice-test-password');
  });
  after(async () => {
    await fx?.close();
  });

  test('cannot evict a signed-in session, and stores nothing for anonymous callers', async () => {
    const alice = new TestBrowser();
    await signIn(alice, fx.solutrix, 'alice', 'alice-test-password');
    assert.equal(fx.sessions.size, 1);
    // Ten times the bound, each as a new anonymous browser, in parallel batches.
    for (let batch = 0; batch < 6; batch++) {
      const answers = await Promise.all(Array.from({ length: 5 }, () => new TestBrowser().request(`${fx.solutrix}/login`)));
      assert.deepEqual(new Set(answers.map((a) => a.status)), new Set([303]));
    }
    assert.equal(fx.sessions.size, 1, 'no anonymous /login stored a session');
    const home = await alice.request(`${fx.solutrix}/`);
    assert.match(home.body, /data-testid="user-username">alice</);
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
