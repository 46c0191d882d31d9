// RFC 8693 token exchange end to end: three Service API processes A → B → C over one IDP, every
// object declared in a seed file. A's `GET /v1/chain` exchanges alice's token for one for B and shows
// both principals; an independent client (oauth4webapi) performs the exchanges of the chain A → B → C.
// A and C take this pass's ACCESS_TOKEN_FORMAT, B the other one: both formats are subject and
// exchanged tokens in both passes.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import * as oauth from 'oauth4webapi';
import { DEFAULT_SEED_FILE, secretFile, seed } from '../../scripts/seed.ts';
import { TestBrowser, followToCode, submitLogin } from '../../idp/test/browser.ts';
import { postForm, startIdp, type RegisteredClient, type TestIdp } from '../support/idp.ts';
import type { Service } from '../support/process.ts';
import { AUDIENCE as A, get, MODE, serviceApiEnv, startServiceApi } from './stack.ts';

const B = 'http://localhost:4002';
const C = 'http://localhost:4003';
const OTHER = MODE === 'jwt' ? 'opaque' : 'jwt';
const GRANT = 'urn:ietf:params:oauth:grant-type:token-exchange';
const AT = 'urn:ietf:params:oauth:token-type:access_token';
const REDIRECT = 'http://127.0.0.1:9/callback';

let idp: TestIdp;
let credentialsDir: string;
let apiA: Service;
let apiB: Service;
let apiC: Service;
const client = (id: string): RegisteredClient => ({ client_id: id, client_secret: readFileSync(secretFile(credentialsDir, id), 'utf8').trim() });

/** alice signs in to solutrix-web, consenting to A's scope and to b.read, b.write and c.read (not b.admin); her token is for `resource`. */
async function aliceSignsIn(resource = A) {
  const browser = new TestBrowser();
  const web = client('solutrix-web');
  const verifier = randomBytes(32).toString('base64url');
  const url = new URL(`${idp.issuer}/auth`);
  url.search = new URLSearchParams({
    client_id: web.client_id, response_type: 'code', redirect_uri: REDIRECT, scope: 'openid service.api b.read b.write c.read', state: 's',
    code_challenge: createHash('sha256').update(verifier).digest('base64url'), code_challenge_method: 'S256',
  }).toString();
  for (const r of [A, B, C]) url.searchParams.append('resource', r);
  const { page } = await followToCode(browser, await browser.request(url.href), REDIRECT);
  const { code } = await followToCode(browser, await submitLogin(browser, page, { username: 'alice', password: 'alice-local-only' }), REDIRECT);
  assert.ok(code);
  const res = await postForm(`${idp.issuer}/token`, web, { grant_type: 'authorization_code', code, redirect_uri: REDIRECT, code_verifier: verifier, resource });
  assert.equal(res.status, 200, JSON.stringify(res.body));
  return { token: res.body.access_token as string, browser };
}

/** The held-out client: oauth4webapi's generic token endpoint request, nothing of ours. */
async function exchange(as: RegisteredClient, subjectToken: string, parameters: Record<string, string>) {
  const server: oauth.AuthorizationServer = { issuer: idp.issuer, token_endpoint: `${idp.issuer}/token` };
  const response = await oauth.genericTokenEndpointRequest(server, { client_id: as.client_id }, oauth.ClientSecretBasic(as.client_secret), GRANT,
    { subject_token: subjectToken, subject_token_type: AT, ...parameters }, { [oauth.allowInsecureRequests]: true });
  try {
    return await oauth.processGenericTokenEndpointResponse(server, { client_id: as.client_id }, response);
  } catch (err) {
    if (err instanceof oauth.ResponseBodyError) return { error: err.error, status: err.status };
    throw err;
  }
}

before(async () => {
  idp = await startIdp({ env: { ACCESS_TOKEN_FORMAT: MODE, SERVICE_API_AUDIENCE: A, IDP_INTROSPECTORS: '' }, serviceApi: false });
  const dir = mkdtempSync(join(tmpdir(), 'token-exchange-'));
  credentialsDir = join(dir, 'credentials');
  const file = JSON.parse(readFileSync(DEFAULT_SEED_FILE, 'utf8'));
  // B's tokens would live a day: an exchanged token still ends with the user's original one.
  file.resource_servers.push({ identifier: B, scopes: ['b.read', 'b.write', 'b.admin'], access_token_format: OTHER, access_token_ttl: 86400 }, { identifier: C, scopes: ['c.read'] });
  const web = file.clients.find((c: { name: string }) => c.name === 'solutrix-web');
  web.scopes.push('b.read', 'b.write', 'b.admin', 'c.read');
  const a = file.clients.find((c: { name: string }) => c.name === 'service-introspector');
  Object.assign(a, { grant_types: ['client_credentials', GRANT], token_exchange: { audiences: [B] } });
  file.clients.push(
    { name: 'b-introspector', grant_types: ['client_credentials', GRANT], introspects: [B], token_exchange: { audiences: [C] } },
    { name: 'c-introspector', grant_types: ['client_credentials'], introspects: [C] },
  );
  writeFileSync(join(dir, 'seed.json'), JSON.stringify(file));
  await seed({ idpBase: idp.origin, adminToken: idp.adminToken, credentialsDir, file: join(dir, 'seed.json'), env: { SERVICE_API_AUDIENCE: A, SOLUTRIX_PUBLIC_URL: 'http://127.0.0.1:9' }, log: () => {} });
  // No introspection cache: a revocation is seen at once.
  const service = (audience: string, introspector: string, extra: Record<string, string> = {}) =>
    startServiceApi(serviceApiEnv(idp, credentialsDir, { SERVICE_API_AUDIENCE: audience, INTROSPECTION_CLIENT_ID: introspector, INTROSPECTION_CLIENT_SECRET_FILE: secretFile(credentialsDir, introspector), INTROSPECTION_CACHE_MAX_TTL: '0', JWT_CACHE_MAX_TTL: '0', ...extra }));
  [apiB, apiC] = await Promise.all([service(B, 'b-introspector'), service(C, 'c-introspector')]);
  apiA = await service(A, 'service-introspector', { DOWNSTREAM_SERVICE_URL: apiB.origin, DOWNSTREAM_SERVICE_AUDIENCE: B, DOWNSTREAM_SCOPE: 'b.read' });
});
after(async () => {
  await Promise.all([apiA?.stop(), apiB?.stop(), apiC?.stop()]);
  await idp?.stop();
});

describe(`token exchange over three Service APIs (A, C ${MODE}; B ${OTHER})`, () => {
  test("A's /v1/chain: B sees alice, acted for by A's client, with the downscoped b.read, expiring no later than her token", async () => {
    const { token } = await aliceSignsIn();
    const res = await get(`${apiA.origin}/v1/chain`, token);
    assert.equal(res.status, 200, JSON.stringify(res.body));
    const { principal, downstream } = res.body as Record<string, Record<string, unknown>>;
    assert.deepEqual({ ...principal, expiresAt: 0 }, { subject: principal!.subject, clientId: 'solutrix-web', scopes: ['service.api'], kind: 'user', expiresAt: 0 });
    assert.deepEqual({ ...downstream, expiresAt: 0 }, { subject: principal!.subject, clientId: 'service-introspector', scopes: ['b.read'], kind: 'user', expiresAt: 0, actor: { sub: 'service-introspector' } });
    assert.ok((downstream!.expiresAt as number) <= (principal!.expiresAt as number), 'the exchanged token does not outlive the original');
  });

  test('a chain A → B → C by an independent client (oauth4webapi) nests act; C sees alice via B via A', async () => {
    const { token } = await aliceSignsIn();
    const forB = await exchange(client('service-introspector'), token, { audience: B, scope: 'b.read' });
    assert.ok('access_token' in forB, JSON.stringify(forB));
    assert.deepEqual([forB.issued_token_type, forB.token_type.toLowerCase(), forB.scope], [AT, 'bearer', 'b.read']);
    assert.equal(forB.access_token.split('.').length === 3, OTHER === 'jwt', `B's tokens are ${OTHER}`);
    const forC = await exchange(client('b-introspector'), forB.access_token, { resource: C });
    assert.ok('access_token' in forC, JSON.stringify(forC));
    const seen = await get(`${apiC.origin}/v1/whoami`, forC.access_token);
    assert.equal(seen.status, 200, JSON.stringify(seen.body));
    assert.deepEqual([seen.body.clientId, seen.body.scopes, seen.body.actor], ['b-introspector', ['c.read'], { sub: 'b-introspector', act: { sub: 'service-introspector' } }]);
    assert.equal(seen.body.subject, (await get(`${apiA.origin}/v1/whoami`, token)).body.subject);
  });

  test("refused: a token whose audience is not A's, a target not on A's client's list, a scope alice did not grant", async () => {
    const { token: forB } = await aliceSignsIn(B);
    assert.deepEqual(await exchange(client('service-introspector'), forB, { audience: B }), { error: 'invalid_grant', status: 400 });
    const { token } = await aliceSignsIn();
    assert.deepEqual(await exchange(client('service-introspector'), token, { audience: C }), { error: 'invalid_target', status: 400 });
    assert.deepEqual(await exchange(client('service-introspector'), token, { audience: B, scope: 'b.read b.admin' }), { error: 'invalid_scope', status: 400 });
  });

  test("signing alice out: her exchanged token is refused by B, and A's /v1/chain fails (502); opaque original refused by A too", async () => {
    const { token, browser } = await aliceSignsIn();
    const forB = await exchange(client('service-introspector'), token, { audience: B, scope: 'b.read' });
    assert.ok('access_token' in forB);
    assert.equal((await get(`${apiB.origin}/v1/whoami`, forB.access_token)).status, 200);
    assert.equal((await get(`${apiA.origin}/v1/chain`, token)).status, 200);
    const logout = await browser.request(`${idp.issuer}/session/end?client_id=solutrix-web`);
    const xsrf = /name="xsrf" value="([^"]+)"/.exec(logout.body)?.[1];
    assert.ok(xsrf, logout.body.slice(0, 200));
    await browser.follow(`${idp.issuer}/session/end/confirm`, { form: { xsrf, logout: 'yes' }, headers: { origin: new URL(idp.issuer).origin } });

    // A JWT cannot be revoked (README, "Opaque or JWT"): in jwt passes A still accepts alice's token.
    assert.equal((await get(`${apiA.origin}/v1/whoami`, token)).status, MODE === 'opaque' ? 401 : 200);
    // B's tokens are opaque in the jwt pass: the exchanged one dies with alice's grant.
    if (OTHER === 'opaque') assert.equal((await get(`${apiB.origin}/v1/whoami`, forB.access_token)).status, 401);
    if (MODE === 'jwt') {
      const chain = await get(`${apiA.origin}/v1/chain`, token);
      assert.equal(chain.status, 502, JSON.stringify(chain.body));
      assert.equal(chain.body.error, 'upstream_error');
      assert.deepEqual(await exchange(client('service-introspector'), token, { audience: B }), { error: 'invalid_grant', status: 400 });
    }
  });

  test("without DOWNSTREAM_SERVICE_URL there is no /v1/chain (404): B has none", async () => {
    const { token } = await aliceSignsIn(B);
    assert.equal((await get(`${apiB.origin}/v1/chain`, token)).status, 404);
  });
});
