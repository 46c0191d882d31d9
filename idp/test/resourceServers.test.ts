// Resource servers as data (RFC 8707), on a real IDP process: the admin API, what a resource server
// decides about its tokens (audience, format, lifetime, scopes), the introspection policy per resource
// server (RFC 7662 §4), and both stores — SQLite across a restart, PostgreSQL across two replicas.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { createLocalJWKSet, decodeJwt, jwtVerify, type JSONWebKeySet } from 'jose';
import { adminRequest, registerClient, SERVICE_API, startIdp, type RegisteredClient, type TestIdp } from '../../test/support/idp.ts';
import { startPostgres, type TestPostgres } from '../../test/support/postgres.ts';
import { freePort } from '../../test/support/process.ts';
import { admin, call, introspect, json, oauth, stableIntrospection } from './helpers.ts';

const BILLING = 'http://localhost:4002';
const encoded = (identifier: string) => `/resource-servers/${encodeURIComponent(identifier)}`;

/** The IDP's built-in resource server of its Shared Signals endpoints (idp/src/ssf/resourceServer.ts): always listed first. */
const ssfBuiltIn = (idp: Pick<TestIdp, 'issuer'>) => ({
  identifier: `${new URL(idp.issuer).origin}/ssf`,
  scopes: ['ssf.manage'],
  access_token_format: 'opaque',
  access_token_ttl: null,
  managed_by: 'idp',
  created_at: 0,
});

describe('admin API: resource servers (SQLite)', () => {
  let idp: TestIdp;
  before(async () => {
    idp = await startIdp({ env: { IDP_INTROSPECTORS: '' }, serviceApi: false });
  });
  after(() => idp?.stop());

  test('POST declares one: 201, the whole resource server, a Location header; GET lists and reads it', async () => {
    const before = Math.floor(Date.now() / 1000);
    const res = await adminRequest(idp, 'POST', '/resource-servers', { identifier: BILLING, scopes: ['billing.read', 'billing.write', 'billing.read'], access_token_format: 'jwt', access_token_ttl: 300 });
    assert.equal(res.status, 201, JSON.stringify(res.body));
    assert.equal(res.headers.get('location'), `/api/global/admin${encoded(BILLING)}`);
    const { created_at, ...rest } = res.body;
    assert.ok(created_at >= before && created_at <= before + 5);
    assert.deepEqual(rest, { identifier: BILLING, scopes: ['billing.read', 'billing.write'], access_token_format: 'jwt', access_token_ttl: 300, managed_by: null });
    assert.deepEqual((await adminRequest(idp, 'GET', encoded(BILLING))).body, res.body);
    assert.deepEqual((await adminRequest(idp, 'GET', '/resource-servers')).body, { resource_servers: [ssfBuiltIn(idp), res.body] }, 'after the IDP\'s own');
  });

  test('defaults: format and lifetime null (the IDP defaults apply), managed_by null', async () => {
    const res = await adminRequest(idp, 'POST', '/resource-servers', { identifier: 'urn:example:reports', scopes: ['reports.read'] });
    assert.equal(res.status, 201);
    assert.deepEqual({ ...res.body, created_at: 0 }, { identifier: 'urn:example:reports', scopes: ['reports.read'], access_token_format: null, access_token_ttl: null, managed_by: null, created_at: 0 });
  });

  test('a duplicate identifier is 409 and leaves the first one unchanged', async () => {
    const before = (await adminRequest(idp, 'GET', encoded(BILLING))).body;
    const res = await adminRequest(idp, 'POST', '/resource-servers', { identifier: BILLING, scopes: ['other.scope'] });
    assert.equal(res.status, 409);
    assert.deepEqual(res.body, { error: 'invalid_request', error_description: `a resource server "${BILLING}" already exists` });
    assert.deepEqual((await adminRequest(idp, 'GET', encoded(BILLING))).body, before);
  });

  test('a scope another resource server owns is 409 naming it and its owner', async () => {
    const res = await adminRequest(idp, 'POST', '/resource-servers', { identifier: 'http://localhost:4009', scopes: ['mine', 'billing.read'] });
    assert.equal(res.status, 409);
    assert.deepEqual(res.body, { error: 'invalid_request', error_description: `scopes: "billing.read" is already declared by resource server ${BILLING}` });
    assert.equal((await adminRequest(idp, 'GET', encoded('http://localhost:4009'))).status, 404);
  });

  const bad: [string, unknown, string | RegExp][] = [
    ['no identifier', { scopes: ['a'] }, /^identifier must be an absolute URI/],
    ['a relative identifier', { identifier: '/billing', scopes: ['a'] }, /^identifier must be an absolute URI/],
    ['an identifier with a fragment', { identifier: 'http://localhost:4002/#x', scopes: ['a'] }, /^identifier must be an absolute URI/],
    ['no scopes', { identifier: 'http://localhost:4010' }, /^scopes must be a non-empty array/],
    ['empty scopes', { identifier: 'http://localhost:4010', scopes: [] }, /^scopes must be a non-empty array/],
    ['a scope with a space', { identifier: 'http://localhost:4010', scopes: ['a b'] }, /^scopes must be a non-empty array of scope tokens/],
    ['an OIDC scope', { identifier: 'http://localhost:4010', scopes: ['profile'] }, 'scopes: "profile" is an OpenID Connect scope of the IDP itself, not a resource server\'s'],
    ['an unknown format', { identifier: 'http://localhost:4010', scopes: ['a'], access_token_format: 'paseto' }, /^access_token_format must be "opaque" or "jwt"/],
    ['a zero lifetime', { identifier: 'http://localhost:4010', scopes: ['a'], access_token_ttl: 0 }, /^access_token_ttl must be an integer/],
    ['a fractional lifetime', { identifier: 'http://localhost:4010', scopes: ['a'], access_token_ttl: 1.5 }, /^access_token_ttl must be an integer/],
    ['an unknown field', { identifier: 'http://localhost:4010', scopes: ['a'], audience: 'x' }, /^unknown field "audience"/],
    ['a bad managed_by', { identifier: 'http://localhost:4010', scopes: ['a'], managed_by: 'Seed!' }, /^managed_by must be/],
  ];
  for (const [label, body, description] of bad) {
    test(`${label} is 400 invalid_request naming the field`, async () => {
      const res = await adminRequest(idp, 'POST', '/resource-servers', body);
      assert.equal(res.status, 400, JSON.stringify(res.body));
      assert.equal(res.body.error, 'invalid_request');
      if (typeof description === 'string') assert.equal(res.body.error_description, description);
      else assert.match(res.body.error_description, description);
      assert.equal((await adminRequest(idp, 'GET', encoded('http://localhost:4010'))).status, 404, 'nothing was stored');
    });
  }

  test('PUT replaces (200, created_at kept) or creates (201); an identifier in the body must match the path', async () => {
    const first = (await adminRequest(idp, 'GET', encoded(BILLING))).body;
    const replaced = await adminRequest(idp, 'PUT', encoded(BILLING), { scopes: ['billing.read'], access_token_format: 'jwt', access_token_ttl: 300 });
    assert.equal(replaced.status, 200);
    assert.deepEqual(replaced.body, { ...first, scopes: ['billing.read'] });
    const created = await adminRequest(idp, 'PUT', encoded('http://localhost:4011'), { identifier: 'http://localhost:4011', scopes: ['put.created'] });
    assert.equal(created.status, 201);
    const mismatch = await adminRequest(idp, 'PUT', encoded('http://localhost:4011'), { identifier: 'http://localhost:4012', scopes: ['x'] });
    assert.deepEqual([mismatch.status, mismatch.body.error_description], [400, 'identifier in the body differs from the one in the path']);
  });

  test('DELETE is 204, then 404; an unknown or malformed identifier is 404', async () => {
    assert.equal((await adminRequest(idp, 'DELETE', encoded('http://localhost:4011'))).status, 204);
    assert.equal((await adminRequest(idp, 'GET', encoded('http://localhost:4011'))).status, 404);
    assert.deepEqual((await adminRequest(idp, 'DELETE', encoded('http://localhost:4011'))).body, { error: 'not_found', error_description: 'no resource server "http://localhost:4011"' });
    assert.equal((await admin(idp, '/resource-servers/%E0%A4%A', { headers: json(idp.adminToken) })).status, 404);
  });

  test('every resource-server route needs the admin token', async () => {
    for (const [method, path] of [['GET', '/resource-servers'], ['POST', '/resource-servers'], ['GET', encoded(BILLING)], ['PUT', encoded(BILLING)], ['DELETE', encoded(BILLING)]] as const) {
      assert.equal((await admin(idp, path, { method })).status, 401, `${method} ${path}`);
    }
    assert.equal((await adminRequest(idp, 'GET', encoded(BILLING))).status, 200, 'nothing was deleted');
  });

  test('registering a client with a scope nobody declares is 400 invalid_client_metadata naming the scope', async () => {
    const res = await adminRequest(idp, 'POST', '/clients', { name: 'typo', scopes: ['billing.read', 'billing.wirte'] });
    assert.equal(res.status, 400);
    assert.deepEqual(res.body, { error: 'invalid_client_metadata', error_description: 'scopes[1]: "billing.wirte" is not declared by any resource server (nor an OpenID Connect scope: openid offline_access profile email)' });
    const introspector = await adminRequest(idp, 'POST', '/clients', { name: 'typo', introspects: ['http://localhost:4999'] });
    assert.deepEqual(introspector.body, { error: 'invalid_client_metadata', error_description: 'introspects[0]: "http://localhost:4999" is not a declared resource server' });
    assert.equal((await adminRequest(idp, 'GET', '/clients/typo')).status, 404);
  });

  test('a resource server survives a restart', async () => {
    const listed = (await adminRequest(idp, 'GET', '/resource-servers')).body;
    idp = await idp.restart();
    assert.deepEqual((await adminRequest(idp, 'GET', '/resource-servers')).body, listed);
    assert.equal(listed.resource_servers.length, 3, 'the two declared and the built-in SSF one');
  });
});

describe('tokens and introspection per resource server', () => {
  let idp: TestIdp;
  let jwks: JSONWebKeySet;
  let serviceApiIntrospector: RegisteredClient;
  let billingIntrospector: RegisteredClient;
  let worker: RegisteredClient;
  let machine: RegisteredClient;
  before(async () => {
    // Opaque by default; billing-api asks for JWTs. No deprecated all-tokens introspector.
    idp = await startIdp({ env: { IDP_INTROSPECTORS: '', ACCESS_TOKEN_FORMAT: 'opaque' } });
    await adminRequest(idp, 'POST', '/resource-servers', { identifier: BILLING, scopes: ['billing.read'], access_token_format: 'jwt', access_token_ttl: 300 });
    await adminRequest(idp, 'POST', '/resource-servers', { identifier: 'http://localhost:4003', scopes: ['ledger.read'] });
    serviceApiIntrospector = await registerClient(idp, 'service-introspector', [], { introspects: [SERVICE_API] });
    billingIntrospector = await registerClient(idp, 'billing-introspector', [], { introspects: [BILLING] });
    worker = await registerClient(idp, 'billing-worker', ['billing.read', 'ledger.read']);
    machine = await registerClient(idp, 'solutrix-api', ['service.api']);
    jwks = (await call(`${idp.issuer}/jwks.json`)).body;
  });
  after(() => idp?.stop());

  const token = async (client: RegisteredClient, form: Record<string, string>) => {
    const res = await oauth(idp, '/token', client, { grant_type: 'client_credentials', ...form });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    return res.body as { access_token: string; scope?: string; expires_in: number };
  };

  test('a request without resource whose scopes belong to one resource server gets a token bound to it', async () => {
    const opaque = await token(machine, { scope: 'service.api' });
    assert.equal(opaque.access_token.split('.').length, 1, 'opaque');
    const seen = await introspect(idp, serviceApiIntrospector, opaque.access_token);
    assert.deepEqual(stableIntrospection(seen.body), { active: true, aud: SERVICE_API, client_id: 'solutrix-api', scope: 'service.api', iss: idp.issuer, token_type: 'Bearer', exp: 'number', iat: 'number' });
    const ledger = await token(worker, { scope: 'ledger.read' });
    assert.equal((await introspect(idp, worker, ledger.access_token)).body.aud, 'http://localhost:4003');
  });

  test('a JWT-format resource server next to an opaque one: an RS256 at+jwt with its audience, scope and lifetime', async () => {
    const issued = await token(worker, { scope: 'billing.read' });
    assert.equal(issued.expires_in, 300);
    const { payload, protectedHeader } = await jwtVerify(issued.access_token, createLocalJWKSet(jwks), { issuer: idp.issuer, audience: BILLING, typ: 'at+jwt' });
    assert.equal(protectedHeader.alg, 'RS256');
    assert.deepEqual([payload.scope, payload.client_id, payload.exp! - payload.iat!], ['billing.read', 'billing-worker', 300]);
    // Named explicitly (RFC 8707) it is the same.
    const named = await token(worker, { scope: 'billing.read', resource: BILLING });
    assert.equal(decodeJwt(named.access_token).aud, BILLING);
  });

  test('scopes of two resource servers in one request without resource: 400 invalid_target', async () => {
    const res = await oauth(idp, '/token', worker, { grant_type: 'client_credentials', scope: 'billing.read ledger.read' });
    assert.equal(res.status, 400);
    assert.equal(res.body.error, 'invalid_target');
  });

  test('a resource scope the client was not registered with is 400 invalid_scope (not dropped silently)', async () => {
    const res = await oauth(idp, '/token', machine, { grant_type: 'client_credentials', scope: 'billing.read' });
    assert.deepEqual([res.status, res.body.error], [400, 'invalid_scope']);
    const unknown = await oauth(idp, '/token', machine, { grant_type: 'client_credentials', scope: 'service.api', resource: 'http://localhost:4999' });
    assert.deepEqual([unknown.status, unknown.body.error], [400, 'invalid_target']);
  });

  test("an introspector sees its resource server's tokens; another resource server's introspector gets active: false", async () => {
    const forServiceApi = (await token(machine, { scope: 'service.api' })).access_token;
    const forLedger = (await token(worker, { scope: 'ledger.read' })).access_token;
    assert.equal((await introspect(idp, serviceApiIntrospector, forServiceApi)).body.active, true);
    assert.deepEqual((await introspect(idp, billingIntrospector, forServiceApi)).body, { active: false });
    assert.deepEqual((await introspect(idp, serviceApiIntrospector, forLedger)).body, { active: false });
    // A client may always introspect its own tokens.
    assert.equal((await introspect(idp, machine, forServiceApi)).body.active, true);
    assert.deepEqual((await introspect(idp, worker, forServiceApi)).body, { active: false });
  });

  test('PUT /clients/:id changes scopes and introspects and keeps the secret working', async () => {
    const res = await adminRequest(idp, 'PUT', '/clients/billing-introspector', { introspects: [BILLING, 'http://localhost:4003'] });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.deepEqual(res.body.introspects, [BILLING, 'http://localhost:4003']);
    assert.equal(res.body.client_secret, undefined);
    const forLedger = (await token(worker, { scope: 'ledger.read' })).access_token;
    assert.equal((await introspect(idp, billingIntrospector, forLedger)).body.active, true, 'the old secret authenticates and the new policy applies');
    const renamed = await adminRequest(idp, 'PUT', '/clients/billing-introspector', { name: 'other' });
    assert.equal(renamed.status, 400);
  });
});

test('IDP_INTROSPECTORS still grants every token, and the IDP warns that it is deprecated', async () => {
  const idp = await startIdp({ env: { IDP_INTROSPECTORS: 'legacy-introspector' } });
  try {
    await adminRequest(idp, 'POST', '/resource-servers', { identifier: BILLING, scopes: ['billing.read'] });
    const legacy = await registerClient(idp, 'legacy-introspector');
    const worker = await registerClient(idp, 'billing-worker', ['billing.read']);
    const issued = await oauth(idp, '/token', worker, { grant_type: 'client_credentials', scope: 'billing.read' });
    assert.equal((await introspect(idp, legacy, issued.body.access_token)).body.active, true);
    assert.match(idp.output(), /IDP_INTROSPECTORS is deprecated/);
  } finally {
    await idp.stop();
  }
});

describe('resource servers in PostgreSQL, shared by two replicas', () => {
  let server: TestPostgres;
  let a: TestIdp;
  let b: TestIdp;
  before(async () => {
    server = await startPostgres();
    const databaseUrl = await server.createDatabase('resource_servers');
    const [portA, portB] = [await freePort(), await freePort()];
    const issuer = `http://127.0.0.1:${portA}/oauth`;
    const env = { IDP_DATABASE_URL: databaseUrl, IDP_ADMIN_TOKEN: randomBytes(24).toString('base64url'), IDP_INTROSPECTORS: '' };
    [a, b] = await Promise.all([startIdp({ port: portA, issuer, env, serviceApi: false }), startIdp({ port: portB, issuer, env, serviceApi: false })]);
  });
  after(async () => {
    await Promise.all([a?.stop(), b?.stop()]);
    await server?.stop();
  });

  test('one declared at replica A is listed, enforced and issued for at replica B at once, and survives restarts', async () => {
    const created = await adminRequest(a, 'POST', '/resource-servers', { identifier: BILLING, scopes: ['billing.read'] });
    assert.equal(created.status, 201);
    assert.deepEqual((await adminRequest(b, 'GET', '/resource-servers')).body, { resource_servers: [ssfBuiltIn(b), created.body] });
    assert.equal((await adminRequest(b, 'POST', '/resource-servers', { identifier: BILLING, scopes: ['x'] })).status, 409);
    const worker = await registerClient(b, 'billing-worker', ['billing.read']);
    const introspector = await registerClient(b, 'billing-introspector', [], { introspects: [BILLING] });
    const issued = await oauth({ issuer: `${b.origin}/oauth` }, '/token', worker, { grant_type: 'client_credentials', scope: 'billing.read' });
    assert.equal(issued.status, 200);
    const seen = await introspect({ issuer: `${a.origin}/oauth` }, introspector, issued.body.access_token);
    assert.deepEqual([seen.body.active, seen.body.aud, seen.body.scope], [true, BILLING, 'billing.read']);
    await adminRequest(b, 'PUT', encoded(BILLING), { scopes: ['billing.read', 'billing.export'] });
    assert.deepEqual((await adminRequest(a, 'GET', encoded(BILLING))).body.scopes, ['billing.read', 'billing.export'], 'a replacement at B is seen at A');
    [a, b] = [await a.restart(), await b.restart()];
    assert.deepEqual((await adminRequest(b, 'GET', encoded(BILLING))).body, { ...created.body, scopes: ['billing.read', 'billing.export'] });
    assert.equal((await adminRequest(a, 'DELETE', encoded(BILLING))).status, 204);
    assert.equal((await adminRequest(b, 'GET', encoded(BILLING))).status, 404);
  });
});
