import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, test } from 'node:test';
import {
  createServiceTokenClient,
  IdpInvalidResponse,
  IdpUnavailable,
  ServiceTokenCache,
  type ServiceTokenOptions,
} from '../../src/security/serviceToken.ts';
import { deadUrl, form, parseBasic, startTokenStub, type TokenStub } from '../helpers/stubs.ts';

describe('createServiceTokenClient', () => {
  let idp: TokenStub;
  let clock: number;
  const now = () => clock;

  before(async () => {
    idp = await startTokenStub();
  });
  after(() => idp.close());
  beforeEach(() => {
    idp.requests.length = 0;
    idp.issued.length = 0;
    idp.mode = 'ok';
    idp.discoveryMode = 'ok';
    idp.expiresIn = 300;
    idp.delayMs = 0;
    clock = 1_700_000_000_000;
  });

  const client = (overrides: Partial<ServiceTokenOptions> = {}) =>
    createServiceTokenClient({
      issuer: idp.issuer,
      tokenUrl: idp.tokenUrl,
      clientId: 'solutrix-api',
      clientSecret: 's3cret',
      scope: 'service.api',
      now,
      ...overrides,
    });

  test('sends client_credentials with HTTP Basic and the scope, never the secret in the body', async () => {
    const tokens = client();
    assert.equal(await tokens.getToken(), 'token-1');
    const [req] = idp.tokenRequests();
    assert.match(req?.headers.authorization ?? '', /^Basic /);
    assert.deepEqual(parseBasic(req?.headers.authorization), { clientId: 'solutrix-api', secret: 's3cret' });
    assert.deepEqual(form(req), { grant_type: 'client_credentials', scope: 'service.api' });
  });

  test('sends the resource indicator when one is configured', async () => {
    await client({ resource: 'http://localhost:4001' }).getToken();
    assert.deepEqual(form(idp.tokenRequests()[0]), {
      grant_type: 'client_credentials',
      scope: 'service.api',
      resource: 'http://localhost:4001',
    });
  });

  test('makes no discovery request when the token URL is configured', async () => {
    const tokens = client();
    await tokens.getToken();
    tokens.invalidate();
    await tokens.getToken();
    assert.equal(idp.discoveryRequests().length, 0);
    assert.equal(idp.tokenRequests().length, 2);
  });

  test('without a token URL, discovers the token endpoint once from the issuer', async () => {
    const tokens = client({ tokenUrl: undefined });
    assert.equal(await tokens.getToken(), 'token-1');
    tokens.invalidate();
    assert.equal(await tokens.getToken(), 'token-2');
    assert.deepEqual(idp.discoveryRequests().map((r) => r.path), ['/oauth/.well-known/openid-configuration']);
    assert.equal(idp.tokenRequests().length, 2);
  });

  test('caches the token until less than 30 s of expires_in remain', async () => {
    const tokens = client();
    assert.equal(await tokens.getToken(), 'token-1');
    clock += 269_000; // 31 s left
    assert.equal(await tokens.getToken(), 'token-1');
    assert.equal(tokens.stats.tokenRequests, 1);
    clock += 2_000; // 29 s left
    assert.equal(await tokens.getToken(), 'token-2');
    assert.equal(await tokens.getToken(), 'token-2');
    assert.equal(tokens.stats.tokenRequests, 2);
    assert.equal(idp.tokenRequests().length, 2);
  });

  test('assumes a 60 s lifetime when expires_in is absent', async () => {
    idp.expiresIn = undefined;
    const tokens = client();
    assert.equal(await tokens.getToken(), 'token-1');
    clock += 29_000;
    assert.equal(await tokens.getToken(), 'token-1');
    clock += 2_000;
    assert.equal(await tokens.getToken(), 'token-2');
  });

  test('reuses a token shorter-lived than the margin for half its lifetime', async () => {
    idp.expiresIn = 20;
    const tokens = client();
    assert.equal(await tokens.getToken(), 'token-1');
    clock += 9_000;
    assert.equal(await tokens.getToken(), 'token-1');
    clock += 2_000;
    assert.equal(await tokens.getToken(), 'token-2');
  });

  test('200 concurrent callers share one token request', async () => {
    idp.delayMs = 20;
    const tokens = client();
    const results = await Promise.all(Array.from({ length: 200 }, () => tokens.getToken()));
    assert.deepEqual(new Set(results), new Set(['token-1']));
    assert.equal(idp.tokenRequests().length, 1);
    assert.equal(tokens.stats.tokenRequests, 1);
  });

  test('concurrent callers during a refresh share one token request too', async () => {
    const tokens = client();
    await tokens.getToken();
    clock += 280_000;
    idp.delayMs = 20;
    const results = await Promise.all(Array.from({ length: 50 }, () => tokens.getToken()));
    assert.deepEqual(new Set(results), new Set(['token-2']));
    assert.equal(idp.tokenRequests().length, 2);
  });

  test('never hands a token to a caller asking with another scope or resource', async () => {
    idp.delayMs = 20;
    const tokens = client();
    const asked = [{}, { scope: 'reports.read' }, { resource: 'https://service-api.example' }, {}, { scope: 'reports.read' }];
    const first = await Promise.all(asked.map((request) => tokens.getToken(request)));
    assert.equal(idp.tokenRequests().length, 3);
    // openid-client orders the form fields its own way: look tokens up by the parameters sent
    const issuedFor = (scope: string, resource?: string) => {
      const i = idp.tokenRequests().findIndex((req) => {
        const params = form(req);
        return params.grant_type === 'client_credentials' && params.scope === scope && params.resource === resource;
      });
      return idp.issued[i];
    };
    const defaultToken = issuedFor('service.api');
    const scopeToken = issuedFor('reports.read');
    const resourceToken = issuedFor('service.api', 'https://service-api.example');
    assert.deepEqual(first, [defaultToken, scopeToken, resourceToken, defaultToken, scopeToken]);
    assert.equal(new Set([defaultToken, scopeToken, resourceToken]).size, 3);
    // …and from the cache afterwards
    assert.deepEqual(await Promise.all(asked.map((request) => tokens.getToken(request))), first);
    assert.equal(idp.tokenRequests().length, 3);
  });

  test('clients sharing a cache never get each other\'s tokens', async () => {
    const cache = new ServiceTokenCache();
    const solutrix = client({ cache });
    const other = client({ cache, clientId: 'other-client', clientSecret: 'other-s3cret' });
    assert.equal(await solutrix.getToken(), 'token-1');
    assert.equal(await other.getToken(), 'token-2');
    assert.equal(await solutrix.getToken(), 'token-1');
    assert.equal(await other.getToken(), 'token-2');
    assert.deepEqual(
      idp.tokenRequests().map((r) => parseBasic(r.headers.authorization)),
      [
        { clientId: 'solutrix-api', secret: 's3cret' },
        { clientId: 'other-client', secret: 'other-s3cret' },
      ],
    );
  });

  test('a client with the same id but a wrong secret is not served from a shared cache', async () => {
    const cache = new ServiceTokenCache();
    assert.equal(await client({ cache }).getToken(), 'token-1');
    await assert.rejects(client({ cache, clientSecret: 'guessed' }).getToken(), {
      name: 'IdpRejected',
      code: 'ERR_IDP_REJECTED',
      idpError: 'invalid_client',
    });
  });

  test('clients with different token endpoints sharing a cache keep separate entries', async () => {
    const cache = new ServiceTokenCache();
    assert.equal(await client({ cache }).getToken(), 'token-1');
    assert.equal(await client({ cache, tokenUrl: undefined }).getToken(), 'token-2');
  });

  test('does not cache errors: a 500 fails this call, the next one asks again', async () => {
    const tokens = client();
    idp.mode = 'server_error';
    await assert.rejects(tokens.getToken(), (err: unknown) => {
      assert.ok(err instanceof IdpUnavailable);
      assert.deepEqual(
        { code: err.code, idpStatus: err.idpStatus, idpError: err.idpError, message: err.message },
        // oauth4webapi reads OAuth error bodies of 4xx answers only
        { code: 'ERR_IDP_UNAVAILABLE', idpStatus: 500, idpError: undefined, message: 'IDP token request failed: 500' },
      );
      return true;
    });
    idp.mode = 'ok';
    assert.equal(await tokens.getToken(), 'token-1');
    assert.equal(idp.tokenRequests().length, 2);
  });

  test('reports invalid_client as rejected, and does not cache it', async () => {
    const tokens = client();
    idp.mode = 'invalid_client';
    await assert.rejects(tokens.getToken(), {
      name: 'IdpRejected',
      code: 'ERR_IDP_REJECTED',
      idpStatus: 401,
      idpError: 'invalid_client',
      message: 'IDP token request failed: 401 invalid_client',
    });
    idp.mode = 'ok';
    assert.equal(await tokens.getToken(), 'token-1');
    assert.equal(idp.tokenRequests().length, 2);
  });

  test('reports a non-JSON 503 as unavailable with its Retry-After', async () => {
    idp.mode = 'unavailable_html';
    await assert.rejects(client().getToken(), {
      name: 'IdpUnavailable',
      code: 'ERR_IDP_UNAVAILABLE',
      idpStatus: 503,
      retryAfterSeconds: 7,
    });
  });

  test('reports an IDP nothing listens on as unavailable', async () => {
    const tokens = client({ tokenUrl: `${await deadUrl()}/oauth/token` });
    await assert.rejects(tokens.getToken(), {
      name: 'IdpUnavailable',
      code: 'ERR_IDP_UNAVAILABLE',
      message: 'IDP token request failed: cannot reach the IDP (ECONNREFUSED)',
    });
  });

  test('an IDP that dropped the connection is asked again on the next call', async () => {
    const tokens = client();
    idp.mode = 'hang_up';
    await assert.rejects(tokens.getToken(), { name: 'IdpUnavailable', code: 'ERR_IDP_UNAVAILABLE' });
    idp.mode = 'ok';
    assert.equal(await tokens.getToken(), 'token-1');
    assert.equal(idp.tokenRequests().length, 2);
  });

  test('reports a failed discovery as unavailable and retries discovery on the next call', async () => {
    const tokens = client({ tokenUrl: undefined });
    idp.discoveryMode = 'unavailable';
    await assert.rejects(tokens.getToken(), { name: 'IdpUnavailable', code: 'ERR_IDP_UNAVAILABLE', idpStatus: 503 });
    assert.equal(idp.tokenRequests().length, 0);
    idp.discoveryMode = 'ok';
    assert.equal(await tokens.getToken(), 'token-1');
    assert.equal(idp.discoveryRequests().length, 2);
    assert.equal(idp.tokenRequests().length, 1);
  });

  test('times out a token request that hangs', async () => {
    idp.delayMs = Infinity;
    await assert.rejects(client({ timeoutSeconds: 0.2 }).getToken(), {
      name: 'IdpUnavailable',
      code: 'ERR_IDP_UNAVAILABLE',
      message: 'IDP token request timed out',
    });
  });

  test('an unusable token response fails without the token in the error', async () => {
    idp.mode = 'no_token_type';
    await assert.rejects(client().getToken(), (err: unknown) => {
      assert.ok(err instanceof IdpInvalidResponse);
      assert.equal(err.code, 'ERR_IDP_INVALID_RESPONSE');
      assert.equal(err.cause, undefined);
      assert.doesNotMatch(JSON.stringify({ ...err, message: err.message }), /token-1/);
      return true;
    });
  });

  test('keeps using the cached token while it is valid if a refresh fails', async () => {
    const tokens = client();
    assert.equal(await tokens.getToken(), 'token-1');
    clock += 280_000; // in the refresh window, 20 s left
    idp.mode = 'server_error';
    assert.equal(await tokens.getToken(), 'token-1');
    clock += 21_000; // expired
    await assert.rejects(tokens.getToken(), { name: 'IdpUnavailable', code: 'ERR_IDP_UNAVAILABLE' });
    assert.equal(idp.tokenRequests().length, 3);
  });

  test('invalidate(token) forces a new token; invalidating a replaced token is a no-op', async () => {
    const tokens = client();
    assert.equal(await tokens.getToken(), 'token-1');
    tokens.invalidate('token-1');
    assert.equal(await tokens.getToken(), 'token-2');
    tokens.invalidate('token-1');
    assert.equal(await tokens.getToken(), 'token-2');
    assert.equal(idp.tokenRequests().length, 2);
  });

  test('invalidate() during a token request keeps its answer out of the cache', async () => {
    idp.delayMs = 20;
    const tokens = client();
    const pending = tokens.getToken();
    tokens.invalidate();
    assert.equal(await pending, 'token-1');
    idp.delayMs = 0;
    assert.equal(await tokens.getToken(), 'token-2');
  });
});
