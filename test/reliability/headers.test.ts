import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createHash, randomBytes } from 'node:crypto';
import { registerClient, startIdp, type RegisteredClient, type TestIdp } from '../support/idp.ts';
import { freePort, startService, type Service } from '../support/process.ts';
import { TestBrowser } from '../../solutrix-api/test/web/browser.ts';
import { leaks, track } from './stack.ts';

// Both public faces as if behind a TLS-terminating proxy: the IDP's issuer and Solutrix's public URL
// are https, the processes speak plain HTTP on loopback (as they do behind the proxy).
let idp: TestIdp;
let idpBase: string; // where we reach the IDP (http), while its issuer is https
let solutrix: Service;
let web: RegisteredClient;
let solutrixPublic: string;

before(async () => {
  const idpPort = await freePort();
  idp = track(await startIdp({ port: idpPort, env: { IDP_ISSUER: `https://127.0.0.1:${idpPort}/oauth` } }));
  idpBase = `http://127.0.0.1:${idpPort}/oauth`;
  const port = await freePort();
  solutrixPublic = `https://127.0.0.1:${port}`;
  web = await registerClient(idp, 'solutrix-web', ['openid', 'profile', 'email', 'offline_access', 'service.api'], {
    redirect_uris: [`${solutrixPublic}/callback`],
    grant_types: ['authorization_code', 'refresh_token'],
  });
  solutrix = track(await startService(
    'solutrix-api/src/main.ts',
    {
      IDP_ISSUER: `https://127.0.0.1:${idpPort}/oauth`,
      IDP_TOKEN_URL: `${idpBase}/token`,
      IDP_CLIENT_SECRET: 'unused-in-this-test',
      SERVICE_API_URL: 'http://127.0.0.1:9',
      WEB_CLIENT_ID: 'solutrix-web',
      WEB_CLIENT_SECRET: web.client_secret,
      SOLUTRIX_PUBLIC_URL: solutrixPublic,
      IDP_BACKCHANNEL_URL: `http://127.0.0.1:${idpPort}`,
    },
    port,
  ));
});
after(() => Promise.all([idp?.stop(), solutrix?.stop()]));

function assertPageHeaders(headers: Headers, label: string) {
  const csp = headers.get('content-security-policy') ?? '';
  assert.match(csp, /(^|;)\s*default-src 'none'/, `${label}: ${csp}`);
  assert.match(csp, /(^|;)\s*frame-ancestors 'none'/, `${label}: ${csp}`);
  assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/, `${label}: ${csp}`);
  assert.equal(headers.get('x-frame-options'), 'DENY', label);
  assert.equal(headers.get('referrer-policy'), 'no-referrer', label);
  assert.equal(headers.get('x-content-type-options'), 'nosniff', label);
  assert.match(headers.get('content-type') ?? '', /^text\/html/, label);
}

/** The defaults every response carries (lib/headers.ts), JSON and redirects included. */
function assertDefaultHeaders(headers: Headers, csp: string, label: string) {
  assert.deepEqual(
    {
      csp: headers.get('content-security-policy'),
      frame: headers.get('x-frame-options'),
      referrer: headers.get('referrer-policy'),
      sniff: headers.get('x-content-type-options'),
    },
    { csp, frame: 'DENY', referrer: 'no-referrer', sniff: 'nosniff' },
    label,
  );
}

function authorizeUrl(): string {
  const url = new URL(`${idpBase}/auth`);
  url.search = new URLSearchParams({
    client_id: 'solutrix-web',
    response_type: 'code',
    redirect_uri: `${solutrixPublic}/callback`,
    scope: 'openid',
    state: randomBytes(8).toString('hex'),
    code_challenge: createHash('sha256').update('verifier-'.repeat(6)).digest('base64url'),
    code_challenge_method: 'S256',
  }).toString();
  return url.href;
}

describe('IDP pages', () => {
  test('the login page: strict CSP, never framed, no referrer, nosniff; its cookies are Secure behind an https issuer', async () => {
    const res = await fetch(authorizeUrl(), { redirect: 'manual' });
    assert.equal(res.status, 303);
    const location = new URL(res.headers.get('location')!, idp.issuer);
    const cookies = res.headers.getSetCookie();
    assert.ok(cookies.length >= 2, cookies.join('\n'));
    for (const cookie of cookies) {
      assert.match(cookie, /;\s*secure/i, `Secure: ${cookie.split('=')[0]}`);
      assert.match(cookie, /;\s*httponly/i, `HttpOnly: ${cookie.split('=')[0]}`);
    }
    const page = await fetch(`http://127.0.0.1:${idp.port}${location.pathname}`, {
      headers: { cookie: cookies.map((c) => c.split(';')[0]).join('; ') },
    });
    const body = await page.text();
    assert.equal(page.status, 200, body.slice(0, 300));
    assert.ok(body.includes('id="username"'));
    assertPageHeaders(page.headers, 'login page');
    assert.match(page.headers.get('content-security-policy')!, /style-src 'nonce-/);
    assert.doesNotMatch(body, /<script/);
  });

  test("oidc-provider's error page (renderError) carries the same headers", async () => {
    const res = await fetch(`${idpBase}/auth?client_id=nobody&response_type=code&scope=openid`);
    assert.equal(res.status, 400);
    assertPageHeaders(res.headers, 'error page');
    assert.match(await res.text(), /invalid_client/);
  });

  test("oidc-provider's own logout form page (/session/end without a session): CSP allows only its one inline script", async () => {
    const res = await fetch(`${idpBase}/session/end`);
    const body = await res.text();
    assert.equal(res.status, 200);
    assertPageHeaders(res.headers, 'logout form_post page');
    const csp = res.headers.get('content-security-policy')!;
    const script = /<script>([\s\S]*?)<\/script>/.exec(body)?.[1];
    assert.ok(script, 'the page auto-submits with an inline script');
    const hash = createHash('sha256').update(script).digest('base64');
    assert.match(csp, new RegExp(`script-src 'self' 'sha256-${hash.replace(/[+/]/g, '\\$&')}'`), csp);
  });

  test('JSON answers and redirects carry the same defaults (CSP with a script-src for oidc-provider to extend)', async () => {
    const csp = "default-src 'none'; script-src 'self'; frame-ancestors 'none'; base-uri 'none'";
    const res = await fetch(`${idpBase}/.well-known/openid-configuration`);
    assert.equal(res.status, 200);
    assertDefaultHeaders(res.headers, csp, 'discovery');
    const health = await fetch(`http://127.0.0.1:${idp.port}/healthz`);
    assertDefaultHeaders(health.headers, csp, 'healthz');
    const redirect = await fetch(authorizeUrl(), { redirect: 'manual' });
    assert.equal(redirect.status, 303);
    assertDefaultHeaders(redirect.headers, csp, 'authorize redirect');
  });
});

describe('Solutrix pages', () => {
  test('the signed-out home page: strict CSP, never framed, no referrer, nosniff', async () => {
    const res = await fetch(`${solutrix.origin}/`);
    assert.equal(res.status, 200);
    assertPageHeaders(res.headers, 'home');
    assert.match(res.headers.get('content-security-policy')!, /style-src 'nonce-/);
  });

  test('an error page (bad callback) has the same headers', async () => {
    const res = await fetch(`${solutrix.origin}/callback?state=x&code=y`);
    assert.ok(res.status >= 400 && res.status < 500, String(res.status));
    assertPageHeaders(res.headers, 'callback error');
  });

  test('with an https SOLUTRIX_PUBLIC_URL the pending sign-in cookie is Secure (behind the proxy), and never sent over plain HTTP', async () => {
    const browser = new TestBrowser();
    const proxied = await browser.request(`${solutrix.origin}/login`, { headers: { 'x-forwarded-proto': 'https' } });
    assert.ok(proxied.status === 302 || proxied.status === 303, String(proxied.status));
    assert.ok(proxied.headers.get('location')!.startsWith('https://127.0.0.1:'), 'sent to the https issuer');
    const [cookie] = proxied.headers.getSetCookie();
    // Since anonymous sign-ins keep no server-side session, /login sets only the encrypted login-state cookie.
    assert.ok(cookie, 'a login-state cookie');
    assert.match(cookie, /^solutrix\.login=/);
    assert.match(cookie, /;\s*Secure/i);
    assert.match(cookie, /;\s*HttpOnly/i);
    assert.match(cookie, /;\s*SameSite=Lax/i);

    const plain = await fetch(`${solutrix.origin}/login`, { redirect: 'manual' });
    assert.deepEqual(plain.headers.getSetCookie(), [], 'no cookie over a connection that is not https');
  });

  test('JSON answers and redirects carry the same defaults', async () => {
    const csp = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'";
    const res = await fetch(`${solutrix.origin}/healthz`);
    assertDefaultHeaders(res.headers, csp, 'healthz');
    const missing = await fetch(`${solutrix.origin}/no-such-route`);
    assert.equal(missing.status, 404);
    assertDefaultHeaders(missing.headers, csp, '404');
    const login = await fetch(`${solutrix.origin}/login`, { redirect: 'manual' });
    assert.ok(login.status === 302 || login.status === 303, String(login.status));
    assertDefaultHeaders(login.headers, csp, 'login redirect');
  });
});

test('no process printed the web client secret or the admin token', () => {
  assert.deepEqual(
    leaks(
      [
        { name: 'idp', text: idp.output() },
        { name: 'solutrix', text: solutrix.output() },
      ],
      [
        { kind: 'client secret', value: web.client_secret },
        { kind: 'admin token', value: idp.adminToken },
      ],
    ),
    [],
  );
});
