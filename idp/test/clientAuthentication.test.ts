import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { close, listen } from '../../lib/server.ts';
import { clientCredentialsToken, registerClient, startIdp, type RegisteredClient, type TestIdp } from '../../test/support/idp.ts';
import { loadConfig } from '../src/config.ts';
import { loadSecrets } from '../src/keys.ts';
import { createProvider } from '../src/provider.ts';
import { openStore } from '../src/store/index.ts';
import { call, introspect, oauth } from './helpers.ts';

const ENDPOINTS = ['/token', '/introspect', '/revoke'];
const form = (endpoint: string): Record<string, string> => (endpoint === '/token' ? { grant_type: 'client_credentials' } : { token: 'some-token' });
const post = (url: string, body: Record<string, string> | [string, string][], headers: Record<string, string> = {}) =>
  call(url, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers }, body: new URLSearchParams(body) });

// What requireClientAuthentication relies on, pinned to the installed oidc-provider: should an
// upgrade change it, this fails rather than the mapping silently doing nothing.
test("oidc-provider's own answer to a request without client authentication: 400 invalid_request, no challenge", async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'idp-bare-provider-'));
  const server = createServer();
  const port = await listen(server, 0, '127.0.0.1');
  const config = loadConfig({ PORT: String(port), IDP_ISSUER: `http://127.0.0.1:${port}`, IDP_DATA_DIR: dataDir });
  const store = await openStore(config);
  try {
    const provider = createProvider(config, await loadSecrets(dataDir), store);
    server.on('request', provider.callback());
    for (const endpoint of ENDPOINTS) {
      for (const body of [form(endpoint), { ...form(endpoint), client_secret: 'a secret without a client' }]) {
        const res = await post(`http://127.0.0.1:${port}${endpoint}`, body);
        assert.equal(res.status, 400, endpoint);
        assert.equal(res.headers.get('www-authenticate'), null);
        assert.deepEqual(res.body, { error: 'invalid_request', error_description: 'no client authentication mechanism provided' }, endpoint);
      }
    }
  } finally {
    await close(server);
    await store.close();
  }
});

describe('requireClientAuthentication (in the IDP)', () => {
  let idp: TestIdp;
  let client: RegisteredClient;
  let token: string;
  before(async () => {
    idp = await startIdp();
    client = await registerClient(idp, 'machine', ['service.api']);
    token = await clientCredentialsToken(idp, client, 'service.api');
  });
  after(() => idp?.stop());

  test('a token, introspection or revocation request without any client authentication is 401 invalid_client with a Basic challenge', async () => {
    for (const endpoint of ENDPOINTS) {
      for (const body of [{ ...form(endpoint), token }, { ...form(endpoint), token, client_secret: client.client_secret }]) {
        const res = await post(`${idp.issuer}${endpoint}`, body);
        assert.equal(res.status, 401, `${endpoint} ${Object.keys(body)}`);
        assert.equal(res.headers.get('www-authenticate'), 'Basic realm="idp"');
        assert.deepEqual(res.body, { error: 'invalid_client', error_description: 'client authentication is required (HTTP Basic)' });
      }
    }
    assert.equal((await introspect(idp, client, token)).body.active, true, 'the unauthenticated revocation revoked nothing');
  });

  test("a request that names a client keeps oidc-provider's answer", async () => {
    const badHeader = await post(`${idp.issuer}/token`, form('/token'), { authorization: 'Bearer not-basic' });
    assert.equal(badHeader.status, 400);
    assert.deepEqual(badHeader.body, { error: 'invalid_request', error_description: 'invalid authorization header value format' });

    const idOnly = await post(`${idp.issuer}/introspect`, { token, client_id: 'machine' });
    assert.equal(idOnly.status, 401);
    assert.deepEqual(idOnly.body, { error: 'invalid_client', error_description: 'client authentication failed' });

    const wrongGrant = await oauth(idp, '/token', client, { grant_type: 'refresh_token', refresh_token: 'x' });
    assert.equal(wrongGrant.status, 400);
    assert.deepEqual(wrongGrant.body, { error: 'invalid_request', error_description: 'requested grant type is not allowed for this client' });
  });

  // Kept, documented in SECURITY.md: oidc-provider treats client_secret_basic and client_secret_post as one
  // method (lib/shared/client_auth.js). Pinned here so that an upgrade that changes it is noticed.
  test('a client registered with client_secret_basic may also send its secret in the body (client_secret_post); a wrong secret there is 401 invalid_client', async () => {
    const viaBody = (secret: string) => post(`${idp.issuer}/token`, { grant_type: 'client_credentials', client_id: client.client_id, client_secret: secret });
    const right = await viaBody(client.client_secret);
    assert.equal(right.status, 200);
    assert.equal(right.body.token_type, 'Bearer');
    const wrong = await viaBody(`${client.client_secret}x`);
    assert.equal(wrong.status, 401);
    assert.deepEqual(wrong.body, { error: 'invalid_client', error_description: 'client authentication failed' });
  });

  test("other endpoints are left alone: userinfo's 400 invalid_request for a request naming no client stays as it is", async () => {
    const res = await post(`${idp.issuer}/me`, [['access_token', 'a'], ['access_token', 'b']], { accept: 'application/json' });
    assert.equal(res.status, 400);
    assert.match(res.headers.get('www-authenticate') ?? '', /^Bearer realm=/);
    assert.deepEqual(res.body, { error: 'invalid_request', error_description: "'access_token' parameter must not be provided twice" });
  });
});
