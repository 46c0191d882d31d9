import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { adminRequest, clientCredentialsToken, registerClient, startIdp, type RegisteredClient, type TestIdp } from '../../../test/support/idp.ts';
import { GRANT_TYPES } from '../../src/admin/clients.ts';
import { admin, bearer, introspect, json, oauth, secretRecorder, undeclaredAdminStatuses } from '../helpers.ts';

const openapi = JSON.parse(readFileSync(new URL('../../src/admin/openapi.json', import.meta.url), 'utf8'));
let idp: TestIdp;
let introspector: RegisteredClient;
const tokens: string[] = [];

const { secrets, remember, post } = secretRecorder(() => idp);
const SECRET = /^[A-Za-z0-9_-]{43}$/;

before(async () => {
  idp = await startIdp();
  introspector = remember(await registerClient(idp, 'service-introspector'));
});
after(() => idp?.stop());

describe('POST /clients', () => {
  test('registers a client: 201, the whole client with its secret, and a Location header', async () => {
    const before = Math.floor(Date.now() / 1000);
    const res = await post({ name: 'solutrix-api', redirect_uris: [], grant_types: ['client_credentials'], scopes: ['service.api'] });
    assert.equal(res.status, 201);
    assert.equal(res.headers.get('location'), '/api/global/admin/clients/solutrix-api');
    assert.equal(res.headers.get('cache-control'), 'no-store');
    const { client_secret, client_id_issued_at, ...rest } = res.body;
    assert.match(client_secret, SECRET);
    assert.ok(client_id_issued_at >= before && client_id_issued_at <= before + 5, String(client_id_issued_at));
    assert.deepEqual(rest, {
      client_id: 'solutrix-api',
      name: 'solutrix-api',
      redirect_uris: [],
      post_logout_redirect_uris: [],
      grant_types: ['client_credentials'],
      scopes: ['service.api'],
      introspects: [],
      managed_by: null,
      token_endpoint_auth_method: 'client_secret_basic',
    });
    tokens.push(await clientCredentialsToken(idp, res.body, 'service.api'));
  });

  test('registers an authorization_code client with redirect and logout URIs', async () => {
    const body = {
      name: 'web.app_1~x',
      redirect_uris: ['https://app.example/callback', 'http://localhost:3000/cb'],
      post_logout_redirect_uris: ['https://app.example/'],
      grant_types: ['authorization_code', 'refresh_token'],
      scopes: ['openid', 'profile', 'offline_access', 'service.api'],
    };
    const res = await post(body);
    assert.equal(res.status, 201, JSON.stringify(res.body));
    const { client_secret, client_id_issued_at, name, ...rest } = res.body;
    assert.equal(typeof client_id_issued_at, 'number');
    assert.deepEqual({ name, ...rest }, { ...body, client_id: 'web.app_1~x', introspects: [], managed_by: null, token_endpoint_auth_method: 'client_secret_basic' });
  });

  test('defaults: grant_types client_credentials; a client registered with no scopes is shown with openid only', async () => {
    const res = await post({ name: 'minimal' });
    assert.equal(res.status, 201);
    assert.deepEqual(
      { ...res.body, client_secret: 'secret', client_id_issued_at: 0 },
      {
        client_id: 'minimal', client_secret: 'secret', name: 'minimal', redirect_uris: [], post_logout_redirect_uris: [],
        grant_types: ['client_credentials'], scopes: ['openid'], introspects: [], managed_by: null, token_endpoint_auth_method: 'client_secret_basic', client_id_issued_at: 0,
      },
    );
  });

  test('duplicate grant types and scopes are stored once', async () => {
    const res = await post({ name: 'dups', grant_types: ['client_credentials', 'client_credentials'], scopes: ['service.api', 'service.api'] });
    assert.equal(res.status, 201);
    assert.deepEqual([res.body.grant_types, res.body.scopes], [['client_credentials'], ['service.api']]);
  });

  test('a name already taken is 409 and leaves the existing client (and its secret) alone', async () => {
    const first = await post({ name: 'taken', scopes: ['service.api'] });
    const res = await post({ name: 'taken', scopes: [] });
    assert.equal(res.status, 409);
    assert.deepEqual(res.body, { error: 'invalid_client_metadata', error_description: 'a client named "taken" already exists' });
    tokens.push(await clientCredentialsToken(idp, first.body, 'service.api'));
  });

  test('a name equal to a registered one ignoring case (Solutrix-Web next to solutrix-web) is 409; the existing client is untouched', async () => {
    const first = await post({ name: 'look-alike', scopes: ['service.api'] });
    assert.equal(first.status, 201);
    for (const name of ['Look-Alike', 'LOOK-ALIKE']) {
      const res = await post({ name, scopes: [] });
      assert.equal(res.status, 409, name);
      assert.deepEqual(res.body, { error: 'invalid_client_metadata', error_description: 'a client named "look-alike" already exists; names that differ only in case are refused' });
    }
    assert.equal((await adminRequest(idp, 'GET', '/clients/Look-Alike')).status, 404);
    tokens.push(await clientCredentialsToken(idp, first.body, 'service.api'));
  });

  const invalidMetadata: [string, unknown, string | RegExp][] = [
    ['a "*" in a redirect URI', { name: 'a', grant_types: ['authorization_code'], redirect_uris: ['https://a.example/cb', 'http://*.evil.test/cb'] }, 'redirect_uris[1] must not contain "*": redirect URIs are exact, there are no wildcards'],
    ['a "*" in a post-logout redirect URI', { name: 'a', grant_types: ['authorization_code'], redirect_uris: ['https://a.example/cb'], post_logout_redirect_uris: ['https://a.example/*'] }, 'post_logout_redirect_uris[0] must not contain "*": redirect URIs are exact, there are no wildcards'],
    ['an unknown grant type', { name: 'a', grant_types: ['password'] }, `unsupported grant type "password"; allowed: ${GRANT_TYPES.join(', ')}`],
    ['the implicit grant', { name: 'a', grant_types: ['implicit'], redirect_uris: ['https://a.example/cb'] }, /^unsupported grant type "implicit"/],
    ['empty grant_types', { name: 'a', grant_types: [] }, 'grant_types must not be empty'],
    ['a scope not offered', { name: 'a', scopes: ['admin'] }, 'scopes[0]: "admin" is not declared by any resource server (nor an OpenID Connect scope: openid offline_access profile email)'],
    ['a redirect URI that is not a URL', { name: 'a', grant_types: ['authorization_code'], redirect_uris: ['not a url'] }, 'redirect_uris must only contain valid uris'],
    ['a redirect URI with a fragment', { name: 'a', grant_types: ['authorization_code'], redirect_uris: ['https://a.example/cb#x'] }, 'redirect_uris must not contain fragments'],
    ['authorization_code without redirect_uris', { name: 'a', grant_types: ['authorization_code'] }, 'redirect_uris must contain members'],
    ['a name with spaces', { name: 'a b' }, /^name must be 1-100 characters/],
    ['an empty name', { name: '' }, /^name must be 1-100 characters/],
    ['a name over 100 characters', { name: 'a'.repeat(101) }, /^name must be 1-100 characters/],
    ['a name with a slash', { name: 'a/b' }, /^name must be 1-100 characters/],
    ['a name starting with a dot', { name: '.hidden' }, /^name must be 1-100 characters/],
    ['no name', { scopes: [] }, /^name must be 1-100 characters/],
    ['a numeric name', { name: 42 }, /^name must be 1-100 characters/],
    ['scopes as a string', { name: 'a', scopes: 'x' }, 'scopes must be an array of strings'],
    ['scopes null', { name: 'a', scopes: null }, 'scopes must be an array of strings'],
    ['grant_types with a number', { name: 'a', grant_types: [1] }, 'grant_types must be an array of strings'],
    ['redirect_uris as an object', { name: 'a', redirect_uris: {} }, 'redirect_uris must be an array of strings'],
    ['post_logout_redirect_uris with null', { name: 'a', post_logout_redirect_uris: [null] }, 'post_logout_redirect_uris must be an array of strings'],
    ['an unknown field', { name: 'a', client_secret: 'mine' }, 'unknown field "client_secret"; allowed: name, redirect_uris, post_logout_redirect_uris, grant_types, scopes, introspects, token_exchange, managed_by'],
  ];
  for (const [label, body, description] of invalidMetadata) {
    test(`${label} is 400 invalid_client_metadata`, async () => {
      const res = await post(body);
      assert.equal(res.status, 400, JSON.stringify(res.body));
      assert.deepEqual(Object.keys(res.body).sort(), ['error', 'error_description']);
      assert.equal(res.body.error, 'invalid_client_metadata');
      if (typeof description === 'string') assert.equal(res.body.error_description, description);
      else assert.match(res.body.error_description, description);
    });
  }
  test('a 101-character name is refused but a 100-character name is accepted', async () => {
    assert.equal((await post({ name: 'b'.repeat(101) })).status, 400);
    assert.equal((await post({ name: 'b'.repeat(100) })).status, 201);
  });

  test('a raw "__proto__" key is 400 invalid_client_metadata and pollutes nothing', async () => {
    const res = await admin(idp, '/clients', { method: 'POST', headers: json(idp.adminToken), body: '{"__proto__":{"scope":"service.api"},"name":"proto"}' });
    assert.equal(res.status, 400);
    assert.deepEqual(res.body, {
      error: 'invalid_client_metadata',
      error_description: 'unknown field "__proto__"; allowed: name, redirect_uris, post_logout_redirect_uris, grant_types, scopes, introspects, token_exchange, managed_by',
    });
    assert.equal((await adminRequest(idp, 'GET', '/clients/proto')).status, 404);
    assert.equal(({} as Record<string, unknown>).scope, undefined);
  });

  const invalidRequests: [string, Record<string, string>, string, string][] = [
    ['malformed JSON', {}, '{"name":', 'body is not valid JSON'],
    ['an empty body', {}, '', 'body is not valid JSON'],
    ['a JSON array', {}, '[{"name":"a"}]', 'body must be a JSON object'],
    ['JSON null', {}, 'null', 'body must be a JSON object'],
    ['a JSON string', {}, '"name"', 'body must be a JSON object'],
    ['a JSON number', {}, '42', 'body must be a JSON object'],
    ['text/plain', { 'content-type': 'text/plain' }, '{"name":"a"}', 'Content-Type must be application/json'],
    ['a form', { 'content-type': 'application/x-www-form-urlencoded' }, 'name=a', 'Content-Type must be application/json'],
    ['no content type', { 'content-type': '' }, '{"name":"a"}', 'Content-Type must be application/json'],
    ['a body over 64 kB', {}, JSON.stringify({ name: 'big', redirect_uris: ['x'.repeat(64 * 1024)] }), 'body must not exceed 65536 bytes'],
  ];
  for (const [label, headers, body, description] of invalidRequests) {
    test(`${label} is 400 invalid_request`, async () => {
      const res = await admin(idp, '/clients', { method: 'POST', headers: { ...json(idp.adminToken), ...headers }, body });
      assert.equal(res.status, 400, res.text);
      assert.deepEqual(res.body, { error: 'invalid_request', error_description: description });
    });
  }

  test('application/json with a charset is accepted', async () => {
    const res = await admin(idp, '/clients', { method: 'POST', headers: { ...json(idp.adminToken), 'content-type': 'application/json; charset=utf-8' }, body: '{"name":"charset"}' });
    assert.equal(res.status, 201);
    remember(res.body);
  });

  test('a body over 64 kB sent chunked (no Content-Length) is 400 invalid_request', async () => {
    const chunk = new TextEncoder().encode(' '.repeat(16 * 1024));
    let sent = 0;
    const stream = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent++ < 6) controller.enqueue(chunk);
        else controller.close();
      },
    });
    const res = await fetch(`${idp.origin}/api/global/admin/clients`, { method: 'POST', headers: json(idp.adminToken), body: stream, duplex: 'half' } as RequestInit);
    assert.equal(res.status, 400);
    assert.deepEqual(await res.json(), { error: 'invalid_request', error_description: 'body must not exceed 65536 bytes' });
  });

  test('refused registrations stored nothing', async () => {
    const res = await adminRequest(idp, 'GET', '/clients');
    const names = (res.body.clients as { client_id: string }[]).map((c) => c.client_id);
    for (const name of ['a', 'big', 'proto', 'b'.repeat(101)]) assert.equal(names.includes(name), false, name);
  });
});

describe('reading clients', () => {
  test('GET /clients lists every client without any secret', async () => {
    const res = await adminRequest(idp, 'GET', '/clients');
    assert.equal(res.status, 200);
    assert.deepEqual(Object.keys(res.body), ['clients']);
    const ids = res.body.clients.map((c: { client_id: string }) => c.client_id);
    assert.deepEqual(ids.slice(0, 3), ['service-introspector', 'solutrix-api', 'web.app_1~x'], 'oldest first');
    assert.doesNotMatch(JSON.stringify(res.body), /"client_secret"/);
    for (const secret of secrets) assert.equal(JSON.stringify(res.body).includes(secret), false);
    for (const client of res.body.clients) {
      assert.deepEqual(Object.keys(client).sort(), ['client_id', 'client_id_issued_at', 'grant_types', 'introspects', 'managed_by', 'name', 'post_logout_redirect_uris', 'redirect_uris', 'scopes', 'token_endpoint_auth_method']);
    }
  });

  test('GET /clients/:id returns the client without its secret', async () => {
    const res = await adminRequest(idp, 'GET', '/clients/solutrix-api');
    assert.equal(res.status, 200);
    assert.deepEqual({ ...res.body, client_id_issued_at: typeof res.body.client_id_issued_at }, {
      client_id: 'solutrix-api', name: 'solutrix-api', redirect_uris: [], post_logout_redirect_uris: [], grant_types: ['client_credentials'],
      scopes: ['service.api'], introspects: [], managed_by: null, token_endpoint_auth_method: 'client_secret_basic', client_id_issued_at: 'number',
    });
  });

  test('GET /clients/:id with a percent-encoded id finds the client', async () => {
    const res = await adminRequest(idp, 'GET', `/clients/${encodeURIComponent('web.app_1~x').replace('~', '%7E')}`);
    assert.equal(res.status, 200);
    assert.equal(res.body.client_id, 'web.app_1~x');
  });

  test('an unknown client is 404 JSON not_found', async () => {
    for (const id of ['nobody', 'bad%20id', '%E0%A4%A']) {
      const res = await adminRequest(idp, 'GET', `/clients/${id}`);
      assert.equal(res.status, 404, id);
      assert.equal(res.body.error, 'not_found');
      assert.equal(typeof res.body.error_description, 'string');
    }
    assert.deepEqual((await adminRequest(idp, 'GET', '/clients/nobody')).body, { error: 'not_found', error_description: 'no client "nobody"' });
    for (const [method, path] of [['GET', '/clients/%E0%A4%A'], ['DELETE', '/clients/%zz'], ['POST', '/clients/%E0%A4%A/secret']] as const) {
      const res = await adminRequest(idp, method, path);
      assert.equal(res.status, 404, `${method} ${path}`);
      assert.deepEqual(res.body, { error: 'not_found', error_description: 'malformed client id in path' });
    }
    assert.deepEqual((await adminRequest(idp, 'DELETE', '/clients/bad%20id')).body, { error: 'not_found', error_description: 'no client "bad id"' });
  });
});

describe('secret rotation', () => {
  test('POST /clients/:id/secret returns the client with a new secret; the old one fails at once, the new one works', async () => {
    const client = remember(await registerClient(idp, 'rotating', ['service.api']));
    const before = await clientCredentialsToken(idp, client, 'service.api');
    tokens.push(before);
    const res = await adminRequest(idp, 'POST', '/clients/rotating/secret');
    remember(res.body);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('cache-control'), 'no-store');
    const { client_secret, ...rest } = res.body;
    assert.match(client_secret, SECRET);
    assert.notEqual(client_secret, client.client_secret);
    const { client_secret: _old, ...registered } = client;
    assert.deepEqual(rest, registered, 'everything but the secret is unchanged');

    const old = await oauth(idp, '/token', client, { grant_type: 'client_credentials', scope: 'service.api' });
    assert.equal(old.status, 401);
    assert.equal(old.body.error, 'invalid_client');
    tokens.push(await clientCredentialsToken(idp, { ...client, client_secret }, 'service.api'));
    assert.equal((await introspect(idp, introspector, before)).body.active, true, 'tokens issued before the rotation stay valid');
  });

  test('rotating the secret of an unknown client is 404', async () => {
    const res = await adminRequest(idp, 'POST', '/clients/nobody/secret');
    assert.equal(res.status, 404);
    assert.deepEqual(res.body, { error: 'not_found', error_description: 'no client "nobody"' });
  });
});

describe('DELETE /clients/:id', () => {
  test('204, then 404; its tokens introspect inactive and its credentials get no more tokens', async () => {
    const client = remember(await registerClient(idp, 'leaving', ['service.api']));
    const token = await clientCredentialsToken(idp, client, 'service.api');
    tokens.push(token);
    const res = await admin(idp, '/clients/leaving', { method: 'DELETE', headers: bearer(idp.adminToken) });
    assert.equal(res.status, 204);
    assert.equal(res.text, '');
    assert.equal((await adminRequest(idp, 'GET', '/clients/leaving')).status, 404);
    assert.equal((await adminRequest(idp, 'DELETE', '/clients/leaving')).status, 404);
    assert.deepEqual((await introspect(idp, introspector, token)).body, { active: false });
    const again = await oauth(idp, '/token', client, { grant_type: 'client_credentials' });
    assert.equal(again.status, 401);
    assert.equal(again.body.error, 'invalid_client');
    const names = (await adminRequest(idp, 'GET', '/clients')).body.clients.map((c: { client_id: string }) => c.client_id);
    assert.equal(names.includes('leaving'), false);
  });

  test('the name of a deleted client can be registered again, with a new secret', async () => {
    const first = remember(await registerClient(idp, 'phoenix'));
    assert.equal((await adminRequest(idp, 'DELETE', '/clients/phoenix')).status, 204);
    const second = remember(await registerClient(idp, 'phoenix'));
    assert.notEqual(second.client_secret, first.client_secret);
    assert.equal((await oauth(idp, '/token', first, { grant_type: 'client_credentials' })).status, 401);
  });
});

test('every status the admin API answered in this file is declared for its operation in the OpenAPI document', () => {
  const { checked, undeclared } = undeclaredAdminStatuses(idp.output(), openapi);
  assert.ok(checked >= 10, `answers checked: ${checked}`);
  assert.deepEqual(undeclared, []);
});

test('the IDP output never contains a client secret, the admin token or an access token used in this file', async () => {
  const output = idp.output();
  assert.ok(output.includes('/api/global/admin/clients'), 'requests were logged');
  assert.ok(secrets.length >= 10, String(secrets.length));
  assert.ok(tokens.length >= 4, String(tokens.length));
  assert.equal(output.includes(idp.adminToken), false, 'the admin token leaked');
  for (const secret of secrets) assert.equal(output.includes(secret), false, 'a client secret leaked');
  for (const token of tokens) assert.equal(output.includes(token), false, 'an access token leaked');
});
