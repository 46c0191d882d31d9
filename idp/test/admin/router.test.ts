import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { adminRequest, registerClient, startIdp, type TestIdp } from '../../../test/support/idp.ts';
import { clientRoutes, GRANT_TYPES } from '../../src/admin/clients.ts';
import { userRoutes } from '../../src/admin/users.ts';
import { loadConfig } from '../../src/config.ts';
import { loadSecrets } from '../../src/keys.ts';
import { createProvider } from '../../src/provider.ts';
import { resourceServerRoutes } from '../../src/admin/resourceServers.ts';
import { openStore } from '../../src/store/index.ts';
import { admin, bearer, json, secretRecorder, undeclaredAdminStatuses } from '../helpers.ts';

const openapi = JSON.parse(readFileSync(new URL('../../src/admin/openapi.json', import.meta.url), 'utf8'));
let idp: TestIdp;

const { secrets, remember, post } = secretRecorder(() => idp);

type Operation = { responses: Record<string, unknown> };
const METHODS = ['get', 'post', 'put', 'patch', 'delete'];
/** `[method, path, operation]` of every operation an OpenAPI document describes. */
const operations = (doc: { paths: Record<string, Record<string, Operation>> }) =>
  Object.entries(doc.paths).flatMap(([path, item]) => Object.entries(item).filter(([method]) => METHODS.includes(method)).map(([method, op]) => [method, path, op] as const));

/** `METHOD /path` of every route in the admin route tables, path parameters written `{}`. */
async function implementedOperations(): Promise<string[]> {
  const dataDir = mkdtempSync(join(tmpdir(), 'idp-route-tables-'));
  const config = loadConfig({ IDP_DATA_DIR: dataDir });
  const store = await openStore(config);
  try {
    const provider = createProvider(config, await loadSecrets(dataDir), store);
    return [clientRoutes(provider, store), userRoutes(store), resourceServerRoutes(store)].flatMap((table) =>
      table.stack.flatMap((layer) => layer.methods.filter((m) => m !== 'HEAD').map((m) => `${m} ${String(layer.path).replace(/:\w+/g, '{}')}`)),
    );
  } finally {
    await store.close();
  }
}

before(async () => {
  idp = await startIdp();
  remember(await registerClient(idp, 'solutrix-api', ['service.api']));
});
after(() => idp?.stop());

describe('every admin route', () => {
  test('admin responses are not cacheable', async () => {
    const res = await admin(idp, '/clients', { headers: bearer(idp.adminToken) });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('cache-control'), 'no-store');
  });

  test('an unknown admin route is 404 JSON not_found', async () => {
    for (const path of ['', '/', '/clients/', '/clients/a/b', '/clients/a/secret/x', '/nope']) {
      const res = await admin(idp, path, { headers: bearer(idp.adminToken) });
      assert.equal(res.status, 404, path);
      assert.equal(res.body.error, 'not_found', path);
    }
  });
});

describe('the order around the routes', () => {
  test('without the token, a wrong method or an unknown path is 401 like any route; the document and a wrong method on it are answered to anyone', async () => {
    for (const [method, path] of [['PUT', '/clients'], ['GET', '/nope'], ['GET', ''], ['GET', '/clients/a/b']]) {
      const res = await admin(idp, path!, { method });
      assert.equal(res.status, 401, `${method} ${path}`);
      assert.equal(res.headers.get('cache-control'), 'no-store');
    }
    const wrong = await admin(idp, '/openapi.json', { method: 'POST' });
    assert.equal(wrong.status, 405);
    assert.equal(wrong.headers.get('allow'), 'GET');
    assert.equal((await admin(idp, '/openapi.json')).status, 200);
  });

  test('paths match as written: another case or a trailing slash is no route', async () => {
    for (const path of ['/Clients', '/clients/', '/USERS', '/users/', '/OpenAPI.json']) {
      const res = await admin(idp, path, { headers: bearer(idp.adminToken) });
      assert.equal(res.status, 404, path);
      assert.deepEqual(res.body, { error: 'not_found', error_description: `no admin route GET /api/global/admin${path}` });
    }
  });

  test('HEAD is answered wherever GET is, without a body', async () => {
    for (const path of ['/clients', '/clients/solutrix-api', '/users', '/openapi.json']) {
      const res = await admin(idp, path, { method: 'HEAD', headers: bearer(idp.adminToken) });
      assert.equal(res.status, 200, path);
      assert.equal(res.text, '');
    }
  });
});

describe('wrong methods', () => {
  const cases: [string, string, string][] = [
    ['PUT', '/clients', 'GET, POST'],
    ['DELETE', '/clients', 'GET, POST'],
    ['PATCH', '/clients/solutrix-api', 'GET, PUT, DELETE'],
    ['POST', '/clients/solutrix-api', 'GET, PUT, DELETE'],
    ['PATCH', '/resource-servers', 'GET, POST'],
    ['POST', '/resource-servers/http%3A%2F%2Flocalhost%3A4001', 'GET, PUT, DELETE'],
    ['GET', '/clients/solutrix-api/secret', 'POST'],
    ['DELETE', '/clients/solutrix-api/secret', 'POST'],
    ['POST', '/openapi.json', 'GET'],
  ];
  for (const [method, path, allow] of cases) {
    test(`${method} ${path} is 405 with Allow: ${allow}`, async () => {
      const res = await admin(idp, path, { method, headers: bearer(idp.adminToken) });
      assert.equal(res.status, 405);
      assert.equal(res.headers.get('allow'), allow);
      assert.deepEqual(res.body, { error: 'invalid_request', error_description: `method not allowed; allowed: ${allow}` });
    });
  }
});

describe('GET /api/global/admin/openapi.json', () => {
  test('is served without authentication as an OpenAPI 3.1.0 document covering every admin route', async () => {
    const res = await admin(idp, '/openapi.json');
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^application\/json/);
    assert.equal(res.body.openapi, '3.1.0');
    assert.deepEqual(res.body.servers, [{ url: '/api/global/admin' }]);
    assert.deepEqual(res.body, openapi, 'the document in idp/src/admin/openapi.json');
  });

  test('its operations are exactly those of the route tables (and its own GET /openapi.json)', async () => {
    const documented = operations(openapi).map(([method, path]) => `${method.toUpperCase()} ${path.replace(/\{[^}]+\}/g, '{}')}`);
    assert.deepEqual(documented.sort(), [...(await implementedOperations()), 'GET /openapi.json'].sort());
  });

  test('the document is self-consistent and matches the implementation: bearer security, every $ref resolves, the statuses of the middleware around the routes, schemas, scopes and grant types', async () => {
    const doc = (await admin(idp, '/openapi.json')).body;
    assert.deepEqual(doc.components.securitySchemes.adminToken, { ...doc.components.securitySchemes.adminToken, type: 'http', scheme: 'bearer' });
    assert.deepEqual(doc.security, [{ adminToken: [] }]);
    assert.deepEqual(doc.paths['/openapi.json'].get.security, []);
    const resolve = (ref: string) => ref.slice(2).split('/').reduce((node: any, key: string) => node?.[key], doc);
    const refs = [...JSON.stringify(doc).matchAll(/"\$ref":"([^"]+)"/g)].map((m) => m[1]!);
    assert.ok(refs.length > 10);
    for (const ref of refs) assert.ok(resolve(ref) !== undefined, `unresolved ${ref}`);
    // What answers around the routes: requireAdminToken (401, 429) in front of every operation but the
    // document's own, refuseOtherMethods (405) on every path, a path parameter's check (404).
    for (const [method, path, operation] of operations(doc)) {
      const declared = Object.keys(operation.responses);
      const expected = [...(path === '/openapi.json' ? [] : ['401', '429']), '405', ...(path.includes('{') ? ['404'] : [])];
      for (const status of expected) assert.ok(declared.includes(status), `${method} ${path} declares ${status}`);
    }
    const user = await admin(idp, '/users', { method: 'POST', headers: json(idp.adminToken), body: JSON.stringify({ username: 'schema-user', password: 'correct horse' }) });
    assert.deepEqual(Object.keys(user.body).sort(), [...doc.components.schemas.User.required].sort());
    // The schemas list exactly the fields the API returns.
    const created = await post({ name: 'schema-check', scopes: ['service.api'] });
    assert.deepEqual(Object.keys(created.body).sort(), [...doc.components.schemas.ClientWithSecret.required].sort());
    // token_exchange is the one optional field: only a client that exchanges tokens (RFC 8693) has it.
    const always = (schema: { properties: object }) => Object.keys(schema.properties).filter((name) => name !== 'token_exchange').sort();
    assert.deepEqual(Object.keys(created.body).sort(), always(doc.components.schemas.ClientWithSecret));
    const read = await adminRequest(idp, 'GET', '/clients/schema-check');
    assert.deepEqual(Object.keys(read.body).sort(), [...doc.components.schemas.Client.required].sort());
    assert.deepEqual(Object.keys(doc.components.schemas.ClientRegistration.properties).sort(), ['grant_types', 'introspects', 'managed_by', 'name', 'post_logout_redirect_uris', 'redirect_uris', 'scopes', 'token_exchange']);
    assert.deepEqual(Object.keys((await adminRequest(idp, 'GET', '/clients/nobody')).body).sort(), [...doc.components.schemas.Error.required].sort());
    const pattern = new RegExp(doc.components.schemas.ClientName.pattern);
    assert.ok(pattern.test('b'.repeat(100)) && !pattern.test('b'.repeat(101)) && !pattern.test('a b') && !pattern.test('.x'));
    // Scopes are data (declared by resource servers): the schema describes their syntax, not a list.
    const scope = new RegExp(doc.components.schemas.Scope.pattern);
    assert.ok(['openid', 'service.api', 'billing.read'].every((s) => scope.test(s)) && !scope.test('a b') && !scope.test('a"b'));
    assert.deepEqual(doc.components.schemas.GrantType.enum, [...GRANT_TYPES]);
  });
});

test('every status the admin API answered in this file is declared for its operation in the OpenAPI document', () => {
  const { checked, undeclared } = undeclaredAdminStatuses(idp.output(), openapi);
  assert.ok(checked >= 10, `answers checked: ${checked}`);
  assert.deepEqual(undeclared, []);
});

test('the IDP output never contains a client secret or the admin token used in this file', () => {
  const output = idp.output();
  assert.ok(secrets.length >= 2, String(secrets.length));
  assert.equal(output.includes(idp.adminToken), false, 'the admin token leaked');
  for (const secret of secrets) assert.equal(output.includes(secret), false, 'a client secret leaked');
});
