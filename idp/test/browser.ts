// The authorization code flow (PKCE) as a browser runs it against the IDP's own login page, with a
// cookie jar that outlives one flow: a second flow in the same browser reuses the IDP session.
import { createHash, randomBytes } from 'node:crypto';
import { TestBrowser, type Hop } from '../../solutrix-api/test/web/browser.ts';
import { basic, type RegisteredClient, type TestIdp } from '../../test/support/idp.ts';

export { TestBrowser };

export type Authorization = { verifier: string; url: string };

export function authorizationRequest(idp: Pick<TestIdp, 'issuer'>, client: Pick<RegisteredClient, 'client_id'>, redirectUri: string, scope: string): Authorization {
  const verifier = randomBytes(32).toString('base64url');
  const url = new URL(`${idp.issuer}/auth`);
  url.search = new URLSearchParams({
    client_id: client.client_id,
    response_type: 'code',
    redirect_uri: redirectUri,
    scope,
    prompt: 'consent', // a refresh token (offline_access) is issued only after a consent prompt
    state: randomBytes(8).toString('hex'),
    code_challenge: createHash('sha256').update(verifier).digest('base64url'),
    code_challenge_method: 'S256',
  }).toString();
  return { verifier, url: url.href };
}

/** Follows redirects from `hop` until the redirect URI (returns its code) or a page (returns it). */
export async function followToCode(browser: TestBrowser, hop: Hop, redirectUri: string): Promise<{ code?: string; page: Hop }> {
  for (let i = 0; i < 15; i++) {
    if (hop.status < 300 || hop.status >= 400) return { page: hop };
    const location = new URL(hop.headers.get('location')!, hop.url);
    if (location.href.startsWith(redirectUri)) {
      const code = location.searchParams.get('code');
      if (!code) throw new Error(`no code at the redirect URI: ${location.search}`);
      return { code, page: hop };
    }
    hop = await browser.request(location.href);
  }
  throw new Error(`too many redirects, last ${hop.url}`);
}

/** Posts the login form of `page` (the IDP's login page). */
export function submitLogin(browser: TestBrowser, page: Hop, user: { username: string; password: string }): Promise<Hop> {
  const action = /<form method="post" action="([^"]+\/login)"/.exec(page.body)?.[1];
  if (!action) throw new Error(`not a login page: ${page.status} ${page.body.slice(0, 300)}`);
  return browser.request(new URL(action, page.url).href, { form: user, headers: { origin: new URL(page.url).origin } });
}

export async function exchangeCode(idp: Pick<TestIdp, 'issuer'>, client: RegisteredClient, code: string, redirectUri: string, verifier: string) {
  const res = await fetch(`${idp.issuer}/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic(client.client_id, client.client_secret) },
    body: new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: redirectUri, code_verifier: verifier }),
  });
  const body = (await res.json()) as Record<string, string>;
  if (res.status !== 200) throw new Error(`code exchange: ${res.status} ${JSON.stringify(body)}`);
  return body;
}

/** A whole sign-in: authorization request, login page, login, code, tokens. */
export async function signIn(
  idp: Pick<TestIdp, 'issuer'>,
  browser: TestBrowser,
  client: RegisteredClient,
  redirectUri: string,
  user: { username: string; password: string },
  scope = 'openid offline_access service.api',
) {
  const request = authorizationRequest(idp, client, redirectUri, scope);
  const { page } = await followToCode(browser, await browser.request(request.url), redirectUri);
  const { code, page: last } = await followToCode(browser, await submitLogin(browser, page, user), redirectUri);
  if (!code) throw new Error(`the sign-in ended on a page: ${last.status} ${last.body.slice(0, 300)}`);
  return exchangeCode(idp, client, code, redirectUri, request.verifier);
}
