// Offboarding is revocation: deleting a user ends everything issued to them, at once.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { adminRequest, registerClient, startIdp, type RegisteredClient, type TestIdp } from '../../test/support/idp.ts';
import { TestBrowser, authorizationRequest, followToCode, signIn } from './browser.ts';
import { introspect, oauth } from './helpers.ts';

const REDIRECT = 'http://127.0.0.1:9/callback';
const DAVE = { username: 'dave', password: 'dave-correct-horse' };

let idp: TestIdp;
let web: RegisteredClient;
let introspector: RegisteredClient;
before(async () => {
  idp = await startIdp();
  introspector = await registerClient(idp, 'service-introspector');
  // solutrix-web is first party (IDP_FIRST_PARTY_CLIENTS' default): consent needs no page.
  web = await registerClient(idp, 'solutrix-web', ['openid', 'offline_access', 'service.api'], {
    redirect_uris: [REDIRECT],
    grant_types: ['authorization_code', 'refresh_token'],
  });
});
after(() => idp?.stop());

const createUser = async (user: { username: string; password: string }) => {
  const res = await adminRequest(idp, 'POST', '/users', user);
  assert.equal(res.status, 201, JSON.stringify(res.body));
  return res.body as { sub: string };
};

describe('deleting a user', () => {
  test('revokes their access and refresh tokens at once; the re-created username is a new subject whose tokens the old ones never become', async () => {
    const first = await createUser(DAVE);
    const tokens = await signIn(idp, new TestBrowser(), web, REDIRECT, DAVE);
    assert.ok(tokens.refresh_token, 'a refresh token was issued');
    const seen = await introspect(idp, introspector, tokens.access_token!);
    assert.equal(seen.body.active, true);
    assert.equal(seen.body.sub, first.sub);

    assert.equal((await adminRequest(idp, 'DELETE', '/users/dave')).status, 204);
    assert.deepEqual((await introspect(idp, introspector, tokens.access_token!)).body, { active: false });
    assert.deepEqual((await introspect(idp, introspector, tokens.refresh_token!)).body, { active: false });
    const refreshed = await oauth(idp, '/token', web, { grant_type: 'refresh_token', refresh_token: tokens.refresh_token! });
    assert.equal(refreshed.status, 400);
    assert.equal(refreshed.body.error, 'invalid_grant');

    const second = await createUser(DAVE);
    assert.notEqual(second.sub, first.sub, 'a new subject');
    assert.deepEqual((await introspect(idp, introspector, tokens.access_token!)).body, { active: false }, 'the old token stays dead');
    const again = await signIn(idp, new TestBrowser(), web, REDIRECT, DAVE);
    assert.equal((await introspect(idp, introspector, again.access_token!)).body.sub, second.sub);
    assert.deepEqual((await introspect(idp, introspector, tokens.access_token!)).body, { active: false });
    assert.equal((await adminRequest(idp, 'DELETE', '/users/dave')).status, 204);
  });

  test('a deleted user\'s browser, still holding the IDP session cookie, is shown the login page (not a 500)', async () => {
    const erin = { username: 'erin', password: 'erin-correct-horse' };
    await createUser(erin);
    const browser = new TestBrowser();
    await signIn(idp, browser, web, REDIRECT, erin);
    assert.equal((await adminRequest(idp, 'DELETE', '/users/erin')).status, 204);
    const { code, page } = await followToCode(browser, await browser.request(authorizationRequest(idp, web, REDIRECT, 'openid').url), REDIRECT);
    assert.equal(code, undefined, 'no code for a deleted account');
    assert.equal(page.status, 200, page.body.slice(0, 300));
    assert.match(page.body, /id="username"/);
  });
});
