// RFC 8693 token exchange at a real IDP process: a service's client exchanges a user's token sent to
// it for a token of another resource server, within the policy; every refusal is RFC-shaped.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { decodeJwt } from 'jose';
import { adminRequest, declareResourceServer, registerClient, SERVICE_API, startIdp, type RegisteredClient, type TestIdp } from '../../test/support/idp.ts';
import { TestBrowser, followToCode, submitLogin } from './browser.ts';
import { call, introspect, oauth } from './helpers.ts';

const GRANT = 'urn:ietf:params:oauth:grant-type:token-exchange';
const AT = 'urn:ietf:params:oauth:token-type:access_token';
const B = 'http://localhost:4002';
const C = 'http://localhost:4003';
const JWT_A = 'http://localhost:4005';
const REDIRECT = 'http://127.0.0.1:9/callback';
const ALICE = { username: 'alice', password: 'alice-correct-horse' };

let idp: TestIdp;
let web: RegisteredClient;
let aSvc: RegisteredClient;
let bSvc: RegisteredClient;
let jwtSvc: RegisteredClient;
let machine: RegisteredClient;

/** Alice signs in to `web` consenting to A's, B's and C's scopes (b.write is registered, not asked). */
async function aliceToken(resource = SERVICE_API, browser = new TestBrowser(), user = ALICE) {
  const verifier = randomBytes(32).toString('base64url');
  const url = new URL(`${idp.issuer}/auth`);
  url.search = new URLSearchParams({
    client_id: web.client_id, response_type: 'code', redirect_uri: REDIRECT, scope: 'openid service.api a5.read b.read c.read',
    state: 'x', code_challenge: createHash('sha256').update(verifier).digest('base64url'), code_challenge_method: 'S256',
  }).toString();
  for (const r of [SERVICE_API, JWT_A, B, C]) url.searchParams.append('resource', r);
  let { code, page } = await followToCode(browser, await browser.request(url.href), REDIRECT);
  if (!code) ({ code, page } = await followToCode(browser, await submitLogin(browser, page, user), REDIRECT));
  assert.ok(code, page.body.slice(0, 300));
  const res = await oauth(idp, '/token', web, { grant_type: 'authorization_code', code, redirect_uri: REDIRECT, code_verifier: verifier, resource });
  assert.equal(res.status, 200, JSON.stringify(res.body));
  return { token: res.body.access_token as string, browser };
}

const exchange = (client: RegisteredClient, subject: string, form: Record<string, string> = {}) =>
  oauth(idp, '/token', client, { grant_type: GRANT, subject_token: subject, subject_token_type: AT, resource: B, ...form });

before(async () => {
  idp = await startIdp({ env: { IDP_INTROSPECTORS: '', ACCESS_TOKEN_FORMAT: 'opaque' } });
  await declareResourceServer(idp, { identifier: B, scopes: ['b.read', 'b.write'] });
  await declareResourceServer(idp, { identifier: C, scopes: ['c.read'], access_token_format: 'jwt' });
  await declareResourceServer(idp, { identifier: JWT_A, scopes: ['a5.read'], access_token_format: 'jwt' });
  assert.equal((await adminRequest(idp, 'POST', '/users', ALICE)).status, 201);
  web = await registerClient(idp, 'solutrix-web', ['openid', 'service.api', 'a5.read', 'b.read', 'b.write', 'c.read'], { redirect_uris: [REDIRECT], grant_types: ['authorization_code'] });
  const exchanger = { grant_types: ['client_credentials', GRANT] };
  aSvc = await registerClient(idp, 'a-svc', [], { ...exchanger, introspects: [SERVICE_API], token_exchange: { audiences: [B] } });
  bSvc = await registerClient(idp, 'b-svc', [], { ...exchanger, introspects: [B], token_exchange: { audiences: [C] } });
  jwtSvc = await registerClient(idp, 'jwt-svc', [], { ...exchanger, introspects: [JWT_A], token_exchange: { audiences: [B] } });
  machine = await registerClient(idp, 'machine', ['service.api']);
});
after(() => idp?.stop());

describe('token exchange (RFC 8693)', () => {
  test('discovery advertises the grant type; the admin API shows token_exchange', async () => {
    const discovery = await call(`${idp.issuer}/.well-known/openid-configuration`);
    assert.ok(discovery.body.grant_types_supported.includes(GRANT));
    const shown = await adminRequest(idp, 'GET', '/clients/a-svc');
    assert.deepEqual([shown.body.grant_types, shown.body.token_exchange], [['client_credentials', GRANT], { audiences: [B] }]);
  });

  test("alice's token for A, exchanged by A's client for B: sub alice, act a-svc, B's scope, no longer than the original", async () => {
    const { token } = await aliceToken();
    const subject = (await introspect(idp, aSvc, token)).body;
    const res = await exchange(aSvc, token);
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.deepEqual({ ...res.body, access_token: typeof res.body.access_token }, { access_token: 'string', issued_token_type: AT, token_type: 'Bearer', expires_in: res.body.expires_in, scope: 'b.read' });
    const seen = (await introspect(idp, bSvc, res.body.access_token)).body;
    assert.deepEqual([seen.active, seen.sub, seen.client_id, seen.aud, seen.scope, seen.act], [true, subject.sub, 'a-svc', B, 'b.read', { sub: 'a-svc' }]);
    assert.ok(seen.exp <= subject.exp, `exp ${seen.exp} <= ${subject.exp}`);
  });

  test('a chain A → B → C nests act, and C gets a JWT (its format)', async () => {
    const { token } = await aliceToken();
    const forB = (await exchange(aSvc, token)).body.access_token;
    const res = await exchange(bSvc, forB, { resource: C });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    const claims = decodeJwt(res.body.access_token);
    assert.deepEqual([claims.aud, claims.client_id, claims.scope, claims.act], [C, 'b-svc', 'c.read', { sub: 'b-svc', act: { sub: 'a-svc' } }]);
  });

  test('a JWT subject token is verified by the IDP and exchanged the same way', async () => {
    const { token } = await aliceToken(JWT_A);
    assert.equal(token.split('.').length, 3);
    const res = await exchange(jwtSvc, token);
    assert.equal(res.status, 200, JSON.stringify(res.body));
    const seen = (await introspect(idp, bSvc, res.body.access_token)).body;
    assert.deepEqual([seen.sub, seen.act, seen.scope], [decodeJwt(token).sub, { sub: 'jwt-svc' }, 'b.read']);
    const tampered = `${token.slice(0, -4)}AAAA`;
    assert.deepEqual(pick((await exchange(jwtSvc, tampered)).body), { error: 'invalid_grant' });
  });

  const pick = (body: Record<string, unknown>) => ({ error: body.error });

  test('refusals: a token not sent to the client, a target not on its list, a scope the user did not grant, bad parameters', async () => {
    const { token } = await aliceToken();
    const cases: [string, RegisteredClient, Record<string, string>, number, string, RegExp][] = [
      ['the audience of the subject token is not the client\'s resource server', bSvc, { resource: C }, 400, 'invalid_grant', /not issued for a resource server of this client/],
      ['a target not in token_exchange.audiences', aSvc, { resource: C }, 400, 'invalid_target', /may not exchange tokens for http:\/\/localhost:4003/],
      ['a scope the user did not grant', aSvc, { scope: 'b.read b.write' }, 400, 'invalid_scope', /did not grant/],
      ['a scope of another resource server', aSvc, { scope: 'service.api' }, 400, 'invalid_scope', /did not grant/],
      ['no target', aSvc, { resource: '' }, 400, 'invalid_request', /resource or audience/],
      ['resource and audience differ', aSvc, { audience: C }, 400, 'invalid_target', /different targets/],
      ['another subject_token_type', aSvc, { subject_token_type: 'urn:ietf:params:oauth:token-type:id_token' }, 400, 'invalid_request', /subject_token_type/],
      ['another requested_token_type', aSvc, { requested_token_type: 'urn:ietf:params:oauth:token-type:refresh_token' }, 400, 'invalid_request', /requested_token_type/],
      ['an actor_token', aSvc, { actor_token: 'x', actor_token_type: AT }, 400, 'invalid_request', /actor_token/],
    ];
    for (const [what, client, form, status, error, description] of cases) {
      const res = await exchange(client, token, form);
      assert.equal(res.status, status, what);
      assert.equal(res.body.error, error, `${what}: ${JSON.stringify(res.body)}`);
      assert.match(res.body.error_description, description, what);
    }
    assert.equal((await exchange(aSvc, token, { audience: B, resource: '' })).status, 200, 'audience alone names the target');
  });

  test('refusals: an inactive or machine subject token is invalid_grant; a client without the grant or audiences is refused', async () => {
    assert.equal((await exchange(aSvc, 'not-a-token')).body.error, 'invalid_grant');
    const machineToken = (await oauth(idp, '/token', machine, { grant_type: 'client_credentials', scope: 'service.api' })).body.access_token;
    assert.equal((await exchange(aSvc, machineToken)).body.error, 'invalid_grant');
    const { token } = await aliceToken();
    const noGrant = await exchange(machine, token);
    assert.deepEqual([noGrant.status, noGrant.body.error], [400, 'invalid_request']); // oidc-provider: grant type not allowed for this client
    const registration = await adminRequest(idp, 'POST', '/clients', { name: 'half', grant_types: [GRANT], introspects: [SERVICE_API] });
    assert.deepEqual([registration.status, registration.body.error], [400, 'invalid_client_metadata']);
    assert.match(registration.body.error_description, /needs token_exchange.audiences/);
    const unknown = await adminRequest(idp, 'POST', '/clients', { name: 'half', grant_types: [GRANT], token_exchange: { audiences: ['http://localhost:4999'] } });
    assert.match(unknown.body.error_description, /token_exchange.audiences\[0\]: "http:\/\/localhost:4999" is not a declared resource server/);
  });

  test('deleting the user or the exchanging client ends the exchanged tokens', async () => {
    const dave = { username: 'dave', password: 'dave-correct-horse' };
    assert.equal((await adminRequest(idp, 'POST', '/users', dave)).status, 201);
    const { token } = await aliceToken(SERVICE_API, new TestBrowser(), dave);
    const exchanged = (await exchange(aSvc, token)).body.access_token;
    assert.equal((await introspect(idp, bSvc, exchanged)).body.active, true);
    assert.equal((await adminRequest(idp, 'DELETE', '/users/dave')).status, 204);
    assert.deepEqual((await introspect(idp, bSvc, exchanged)).body, { active: false });

    const temp = await registerClient(idp, 'temp-svc', [], { grant_types: ['client_credentials', GRANT], introspects: [SERVICE_API], token_exchange: { audiences: [B] } });
    const fromTemp = (await exchange(temp, (await aliceToken()).token)).body.access_token;
    assert.equal((await introspect(idp, bSvc, fromTemp)).body.active, true);
    assert.equal((await adminRequest(idp, 'DELETE', '/clients/temp-svc')).status, 204);
    assert.deepEqual((await introspect(idp, bSvc, fromTemp)).body, { active: false });
  });

  test("signing out ends alice's grant: the original and the exchanged tokens (and a further exchange) are refused", async () => {
    const { token, browser } = await aliceToken();
    const exchanged = (await exchange(aSvc, token)).body.access_token;
    assert.equal((await introspect(idp, bSvc, exchanged)).body.active, true);
    // RP-initiated logout in alice's browser (the end_session confirmation form).
    const logout = await browser.request(`${idp.issuer}/session/end?client_id=${web.client_id}`);
    const xsrf = /name="xsrf" value="([^"]+)"/.exec(logout.body)?.[1];
    assert.ok(xsrf, logout.body.slice(0, 300));
    await browser.follow(`${idp.issuer}/session/end/confirm`, { form: { xsrf, logout: 'yes' }, headers: { origin: new URL(idp.issuer).origin } });
    assert.deepEqual((await introspect(idp, aSvc, token)).body, { active: false });
    assert.deepEqual((await introspect(idp, bSvc, exchanged)).body, { active: false });
    assert.equal((await exchange(aSvc, token)).body.error, 'invalid_grant');
  });
});
