import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import * as oidc from 'openid-client';
import { classifyIdpError, IdpError, IdpInvalidResponse, IdpRejected, IdpUnavailable } from '../../src/security/idpError.ts';
import { deadUrl, startStub, type Stub, type StubResponse } from '../helpers/stubs.ts';

// Every failure below is produced by openid-client itself, against a real HTTP stub of the IDP.
describe('classifyIdpError', () => {
  let idp: Stub;
  let answer: StubResponse;
  const now = Date.parse('2026-12-02T12:00:00Z');

  before(async () => {
    idp = await startStub(() => answer);
  });
  after(() => idp.close());

  function configuration(base = idp.url, { insecure = true, timeout = 5 } = {}): oidc.Configuration {
    const config = new oidc.Configuration(
      { issuer: `${base}/oauth`, token_endpoint: `${base}/oauth/token`, userinfo_endpoint: `${base}/oauth/me` },
      'solutrix-api',
      undefined,
      oidc.ClientSecretBasic('s3cret'),
    );
    config.timeout = timeout;
    if (insecure) oidc.allowInsecureRequests(config);
    return config;
  }

  /** The error openid-client rejects with for `request`, classified. */
  async function classified(request: () => Promise<unknown>, operation: Parameters<typeof classifyIdpError>[1] = 'token request') {
    const err = await request().then(
      () => assert.fail('the request succeeded'),
      (e: unknown) => e,
    );
    return { raw: err, classified: classifyIdpError(err, operation, now) };
  }
  const tokenRequest = () => oidc.clientCredentialsGrant(configuration(), { scope: 'service.api' });

  /** The fields a caller reads, as one object. */
  const fields = (err: IdpError | undefined) =>
    err && { class: err.constructor.name, code: err.code, operation: err.operation, message: err.message, idpStatus: err.idpStatus, idpError: err.idpError, retryAfterSeconds: err.retryAfterSeconds };

  test('an OAuth error body (4xx) is rejected, with status and error code', async () => {
    answer = { status: 401, json: { error: 'invalid_client', error_description: 'no such client' } };
    const { raw, classified: err } = await classified(tokenRequest);
    assert.ok(raw instanceof oidc.ResponseBodyError);
    assert.deepEqual(fields(err), {
      class: 'IdpRejected', code: 'ERR_IDP_REJECTED', operation: 'token request', message: 'IDP token request failed: 401 invalid_client',
      idpStatus: 401, idpError: 'invalid_client', retryAfterSeconds: undefined,
    });
  });

  test('an error code outside RFC 6749\'s characters is not repeated', async () => {
    answer = { status: 400, json: { error: 'bad"<script>' } };
    const { classified: err } = await classified(tokenRequest);
    assert.deepEqual(fields(err), {
      class: 'IdpRejected', code: 'ERR_IDP_REJECTED', operation: 'token request', message: 'IDP token request failed: 400',
      idpStatus: 400, idpError: undefined, retryAfterSeconds: undefined,
    });
  });

  test('429 is unavailable, with its Retry-After in seconds', async () => {
    answer = { status: 429, json: { error: 'slow_down' }, headers: { 'retry-after': '30' } };
    const { raw, classified: err } = await classified(tokenRequest);
    assert.ok(raw instanceof oidc.ResponseBodyError);
    assert.deepEqual(fields(err), {
      class: 'IdpUnavailable', code: 'ERR_IDP_UNAVAILABLE', operation: 'token request', message: 'IDP token request failed: 429 slow_down',
      idpStatus: 429, idpError: 'slow_down', retryAfterSeconds: 30,
    });
  });

  test('a 5xx is unavailable; an HTTP-date Retry-After becomes seconds from now', async () => {
    answer = { status: 503, text: '<h1>down</h1>', headers: { 'retry-after': new Date(now + 120_000).toUTCString() } };
    const { raw, classified: err } = await classified(tokenRequest);
    assert.ok(raw instanceof oidc.ClientError && raw.code === 'OAUTH_RESPONSE_IS_NOT_CONFORM');
    assert.deepEqual(fields(err), {
      class: 'IdpUnavailable', code: 'ERR_IDP_UNAVAILABLE', operation: 'token request', message: 'IDP token request failed: 503',
      idpStatus: 503, idpError: undefined, retryAfterSeconds: 120,
    });
    answer = { status: 500, json: { error: 'server_error' } };
    assert.deepEqual(fields((await classified(tokenRequest)).classified), {
      class: 'IdpUnavailable', code: 'ERR_IDP_UNAVAILABLE', operation: 'token request', message: 'IDP token request failed: 500',
      idpStatus: 500, idpError: undefined, retryAfterSeconds: undefined,
    });
  });

  test('a 4xx without an OAuth error body (a wrong URL) is rejected', async () => {
    answer = { status: 404, text: 'Not Found' };
    assert.deepEqual(fields((await classified(tokenRequest)).classified), {
      class: 'IdpRejected', code: 'ERR_IDP_REJECTED', operation: 'token request', message: 'IDP token request failed: 404',
      idpStatus: 404, idpError: undefined, retryAfterSeconds: undefined,
    });
  });

  test('a 200 that is not JSON, not parseable, or not a token response is an invalid response', async () => {
    answer = { status: 200, text: '<html>hello</html>', headers: { 'content-type': 'text/html' } };
    const html = await classified(tokenRequest);
    assert.ok(html.raw instanceof oidc.ClientError && html.raw.code === 'OAUTH_RESPONSE_IS_NOT_JSON');
    assert.ok(html.classified instanceof IdpInvalidResponse);
    assert.equal(html.classified.idpStatus, 200);

    answer = { status: 200, text: '{"access_token":', headers: { 'content-type': 'application/json' } };
    const broken = await classified(tokenRequest);
    assert.ok(broken.raw instanceof oidc.ClientError && broken.raw.code === 'OAUTH_PARSE_ERROR');
    assert.ok(broken.classified instanceof IdpInvalidResponse);

    answer = { status: 200, json: { access_token: 'a-secret-token-value' } }; // no token_type
    const partial = await classified(tokenRequest);
    assert.ok(partial.raw instanceof oidc.ClientError && partial.raw.code === 'OAUTH_INVALID_RESPONSE');
    assert.ok(partial.classified instanceof IdpInvalidResponse);
    assert.equal(partial.classified.cause, undefined);
    assert.doesNotMatch(JSON.stringify({ ...partial.classified, message: partial.classified.message }), /a-secret-token-value/);
  });

  test('a timeout, a refused connection and a dropped one are unavailable', async () => {
    answer = { status: 200, json: {}, delayMs: Infinity };
    const slow = await classified(() => oidc.clientCredentialsGrant(configuration(idp.url, { timeout: 0.1 })));
    assert.ok(slow.raw instanceof oidc.ClientError && slow.raw.code === 'OAUTH_TIMEOUT');
    assert.deepEqual(fields(slow.classified), {
      class: 'IdpUnavailable', code: 'ERR_IDP_UNAVAILABLE', operation: 'token request', message: 'IDP token request timed out',
      idpStatus: undefined, idpError: undefined, retryAfterSeconds: undefined,
    });

    const refused = await classified(async () => oidc.clientCredentialsGrant(configuration(await deadUrl())));
    assert.ok(refused.raw instanceof TypeError);
    assert.equal(refused.classified?.message, 'IDP token request failed: cannot reach the IDP (ECONNREFUSED)');
    assert.ok(refused.classified instanceof IdpUnavailable);

    answer = { status: 0, hangUp: true };
    const dropped = await classified(tokenRequest);
    assert.ok(dropped.raw instanceof TypeError);
    assert.ok(dropped.classified instanceof IdpUnavailable);
  });

  test('userinfo refusing the access token (WWW-Authenticate challenge) is rejected', async () => {
    answer = { status: 401, text: '', headers: { 'www-authenticate': 'Bearer error="invalid_token", error_description="no"' } };
    const { raw, classified: err } = await classified(() => oidc.fetchUserInfo(configuration(), 'an-access-token', 'alice-sub'), 'userinfo');
    assert.ok(raw instanceof oidc.WWWAuthenticateChallengeError);
    assert.deepEqual(fields(err), {
      class: 'IdpRejected', code: 'ERR_IDP_REJECTED', operation: 'userinfo', message: 'IDP userinfo failed: 401 invalid_token',
      idpStatus: 401, idpError: 'invalid_token', retryAfterSeconds: undefined,
    });
  });

  test('userinfo for another subject is an invalid response', async () => {
    answer = { status: 200, json: { sub: 'mallory-sub' } };
    const { raw, classified: err } = await classified(() => oidc.fetchUserInfo(configuration(), 'an-access-token', 'alice-sub'), 'userinfo');
    assert.ok(raw instanceof oidc.ClientError && raw.code === 'OAUTH_JSON_ATTRIBUTE_COMPARISON_FAILED');
    assert.ok(err instanceof IdpInvalidResponse);
  });

  test('discovery naming another issuer is an invalid response', async () => {
    answer = { status: 200, json: { issuer: 'https://elsewhere.example', token_endpoint: 'https://elsewhere.example/token' } };
    const { raw, classified: err } = await classified(
      () => oidc.discovery(new URL(`${idp.url}/oauth`), 'solutrix-api', undefined, oidc.None(), { execute: [oidc.allowInsecureRequests] }),
      'discovery',
    );
    assert.ok(raw instanceof oidc.ClientError);
    assert.ok(err instanceof IdpInvalidResponse);
    assert.equal(err.operation, 'discovery');
  });

  test('an authorization error response is rejected; temporarily_unavailable and server_error are unavailable', async () => {
    const callback = (error: string) =>
      classified(
        () => oidc.authorizationCodeGrant(configuration(), new URL(`http://localhost:3000/callback?error=${error}&state=s1`), { expectedState: 's1' }),
        'code exchange',
      );
    const denied = await callback('access_denied');
    assert.ok(denied.raw instanceof oidc.AuthorizationResponseError);
    assert.deepEqual(fields(denied.classified), {
      class: 'IdpRejected', code: 'ERR_IDP_REJECTED', operation: 'code exchange', message: 'IDP code exchange failed: access_denied',
      idpStatus: undefined, idpError: 'access_denied', retryAfterSeconds: undefined,
    });
    assert.ok((await callback('temporarily_unavailable')).classified instanceof IdpUnavailable);
    assert.ok((await callback('server_error')).classified instanceof IdpUnavailable);
  });

  test('our own mistakes are no failure of the IDP: left unclassified', async () => {
    // openid-client refuses plain http unless told otherwise.
    const https = await classified(() => oidc.clientCredentialsGrant(configuration(idp.url, { insecure: false })));
    assert.ok(https.raw instanceof oidc.ClientError && https.raw.code === 'OAUTH_HTTP_REQUEST_FORBIDDEN');
    assert.equal(https.classified, undefined);
    // An argument error (a TypeError with an ERR_* code).
    const misuse = await classified(async () => oidc.clientCredentialsGrant(undefined as unknown as oidc.Configuration));
    assert.ok(misuse.raw instanceof TypeError);
    assert.equal(misuse.classified, undefined);
    assert.equal(classifyIdpError(new RangeError('a bug'), 'refresh'), undefined);
  });

  test('an IdpError is passed through as it is', () => {
    const err = new IdpRejected('refresh', 'IDP refresh failed: 400 invalid_grant', { idpStatus: 400, idpError: 'invalid_grant' });
    assert.equal(classifyIdpError(err, 'token request'), err);
  });
});
