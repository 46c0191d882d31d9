// The SSF transmitter's stream management (SSF 1.0 §7, §8.1): metadata, Bearer auth, streams of one receiver only.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { adminRequest, postForm, registerClient, startIdp, type TestIdp } from '../../../test/support/idp.ts';
import { call, oauth } from '../helpers.ts';
import { createStream, POLL, receiver, ssf, ssfResource, ssfToken, TOKEN_REVOKED, type Receiver } from './support.ts';

const SUPPORTED = [
  TOKEN_REVOKED,
  'https://schemas.openid.net/secevent/caep/event-type/session-revoked',
  'urn:solutrix:secevent:event-type:client-deleted',
  'https://schemas.openid.net/secevent/risc/event-type/account-purged',
];

let idp: TestIdp;
let alpha: Receiver;
let beta: Receiver;
before(async () => {
  idp = await startIdp({ env: { SSF_MAX_STREAMS_PER_CLIENT: '3' } });
  alpha = await receiver(idp, 'receiver-alpha');
  beta = await receiver(idp, 'receiver-beta');
});
after(() => idp?.stop());

describe('transmitter metadata', () => {
  test('is served at /.well-known/ssf-configuration + the issuer path, exactly as the contract names it', async () => {
    const res = await call(`${idp.origin}/.well-known/ssf-configuration/oauth`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^application\/json/);
    const origin = new URL(idp.issuer).origin;
    assert.deepEqual(res.body, {
      spec_version: '1_0',
      issuer: idp.issuer,
      jwks_uri: `${idp.issuer}/jwks.json`,
      delivery_methods_supported: [POLL],
      configuration_endpoint: `${origin}/ssf/streams`,
      status_endpoint: `${origin}/ssf/status`,
      verification_endpoint: `${origin}/ssf/verify`,
      authorization_schemes: [{ spec_urn: 'urn:ietf:rfc:6749' }],
      default_subjects: 'ALL',
    });
    assert.deepEqual((await call(`${idp.origin}/.well-known/ssf-configuration`)).body, res.body);
    const wrongMethod = await call(`${idp.origin}/.well-known/ssf-configuration/oauth`, { method: 'POST' });
    assert.equal(wrongMethod.status, 405);
    assert.equal(wrongMethod.headers.get('allow'), 'GET');
  });
});

describe('Bearer authentication of /ssf', () => {
  test('no token is 401 with a challenge; a token that is not active is 401 invalid_token', async () => {
    const none = await ssf(idp, undefined, 'GET', '/ssf/streams');
    assert.equal(none.status, 401);
    assert.equal(none.headers.get('www-authenticate'), 'Bearer realm="ssf", scope="ssf.manage"');
    assert.equal(none.body.error, 'invalid_token');
    const bogus = await ssf(idp, 'not-a-token-of-this-idp', 'GET', '/ssf/streams');
    assert.equal(bogus.status, 401);
    assert.equal(bogus.headers.get('www-authenticate'), 'Bearer realm="ssf", error="invalid_token"');
    assert.deepEqual(bogus.body, { error: 'invalid_token', error_description: 'the access token is not active' });
    const basic = await ssf(idp, undefined, 'GET', '/ssf/streams', undefined, { authorization: 'Basic Zm9vOmJhcg==' });
    assert.equal(basic.status, 401);
    assert.equal(basic.body.error, 'invalid_token');
  });

  test('a token for another audience is 401 invalid_token; one without ssf.manage for the SSF audience is 403 insufficient_scope', async () => {
    // A token of the same client for the Service API: active, right client, wrong audience.
    const client = await registerClient(idp, 'receiver-wide', ['ssf.manage', 'service.api']);
    const elsewhere = await postForm(`${idp.issuer}/token`, client, { grant_type: 'client_credentials', scope: 'service.api' });
    assert.equal(elsewhere.status, 200);
    const wrongAudience = await ssf(idp, elsewhere.body.access_token as string, 'GET', '/ssf/streams');
    assert.equal(wrongAudience.status, 401);
    assert.equal(wrongAudience.body.error, 'invalid_token');
    assert.equal(wrongAudience.body.error_description, `the access token is not for ${ssfResource(idp)}`);

    // The audience is right but the client never got ssf.manage: oidc-provider issues no scope.
    const plain = await registerClient(idp, 'receiver-unscoped', []);
    const unscoped = await postForm(`${idp.issuer}/token`, plain, { grant_type: 'client_credentials', resource: ssfResource(idp) });
    assert.equal(unscoped.status, 200, JSON.stringify(unscoped.body));
    const res = await ssf(idp, unscoped.body.access_token as string, 'GET', '/ssf/streams');
    assert.equal(res.status, 403);
    assert.equal(res.headers.get('www-authenticate'), 'Bearer realm="ssf", error="insufficient_scope", scope="ssf.manage"');
    assert.equal(res.body.error, 'insufficient_scope');
  });

  test('a revoked token and the token of a deleted client are 401 at once', async () => {
    const doomed = await receiver(idp, 'receiver-doomed');
    assert.equal((await ssf(idp, doomed.token, 'GET', '/ssf/streams')).status, 200);
    const revoked = await oauth(idp, '/revoke', doomed.client, { token: doomed.token });
    assert.equal(revoked.status, 200);
    assert.equal((await ssf(idp, doomed.token, 'GET', '/ssf/streams')).status, 401);

    const gone = await receiver(idp, 'receiver-gone');
    assert.equal((await adminRequest(idp, 'DELETE', `/clients/${gone.client.client_id}`)).status, 204);
    assert.equal((await ssf(idp, gone.token, 'GET', '/ssf/streams')).status, 401);
  });

  test('an expired token is 401 invalid_token', async () => {
    // 4 s: long enough for the first call to land inside the token's life on a loaded machine (1 s was not, in CI).
    const shortLived = await startIdp({ env: { CLIENT_CREDENTIALS_TTL: '4' } });
    try {
      const who = await receiver(shortLived, 'receiver-brief');
      assert.equal((await ssf(shortLived, who.token, 'GET', '/ssf/streams')).status, 200);
      // Token lifetimes are whole seconds; bounded wait for them to pass.
      const deadline = Date.now() + 10_000;
      let res;
      do {
        await new Promise((r) => setTimeout(r, 250));
        res = await ssf(shortLived, who.token, 'GET', '/ssf/streams');
      } while (res.status === 200 && Date.now() < deadline);
      assert.equal(res.status, 401);
      assert.equal(res.body.error, 'invalid_token');
    } finally {
      await shortLived.stop();
    }
  });

  test('unknown paths and wrong methods under /ssf are answered only to a receiver', async () => {
    assert.equal((await ssf(idp, undefined, 'DELETE', '/ssf/status')).status, 401);
    const wrong = await ssf(idp, alpha.token, 'DELETE', '/ssf/status');
    assert.equal(wrong.status, 405);
    assert.equal(wrong.headers.get('allow'), 'GET, POST');
    const unknown = await ssf(idp, alpha.token, 'GET', '/ssf/elsewhere');
    assert.equal(unknown.status, 404);
    assert.equal(unknown.body.error, 'not_found');
  });
});

describe('streams', () => {
  test('create, read, list, update, replace and delete a stream (SSF §8.1.1)', async () => {
    const created = await ssf(idp, alpha.token, 'POST', '/ssf/streams', {
      delivery: { method: POLL },
      events_requested: [TOKEN_REVOKED, 'urn:example:unsupported'],
      description: 'alpha cache',
    });
    assert.equal(created.status, 201);
    const id = created.body.stream_id as string;
    assert.match(id, /^[A-Za-z0-9_-]{22}$/);
    const origin = new URL(idp.issuer).origin;
    const expected = {
      stream_id: id,
      iss: idp.issuer,
      aud: alpha.client.client_id,
      events_supported: SUPPORTED,
      inactivity_timeout: 7 * 24 * 3600,
      min_verification_interval: 5,
      events_requested: [TOKEN_REVOKED, 'urn:example:unsupported'],
      events_delivered: [TOKEN_REVOKED],
      delivery: { method: POLL, endpoint_url: `${origin}/ssf/poll/${id}` },
      description: 'alpha cache',
    };
    assert.deepEqual(created.body, expected);
    assert.equal(created.headers.get('cache-control'), 'no-store');

    assert.deepEqual((await ssf(idp, alpha.token, 'GET', `/ssf/streams?stream_id=${id}`)).body, expected);
    const listed = await ssf(idp, alpha.token, 'GET', '/ssf/streams');
    assert.equal(listed.status, 200);
    assert.deepEqual(listed.body, [expected]);

    // PATCH changes what it names; echoed transmitter fields are fine when unchanged.
    const patched = await ssf(idp, alpha.token, 'PATCH', '/ssf/streams', { stream_id: id, iss: idp.issuer, events_requested: SUPPORTED });
    assert.equal(patched.status, 200, patched.text);
    assert.deepEqual(patched.body, { ...expected, events_requested: SUPPORTED, events_delivered: SUPPORTED });
    const undescribed = await ssf(idp, alpha.token, 'PATCH', '/ssf/streams', { stream_id: id, description: null });
    assert.equal(undescribed.body.description, undefined);
    assert.deepEqual(undescribed.body.events_requested, SUPPORTED);

    // PUT replaces every receiver field: a missing one is removed.
    const replaced = await ssf(idp, alpha.token, 'PUT', '/ssf/streams', { stream_id: id, delivery: { method: POLL, endpoint_url: expected.delivery.endpoint_url } });
    assert.equal(replaced.status, 200, replaced.text);
    const { description: _d, ...withoutDescription } = expected;
    assert.deepEqual(replaced.body, { ...withoutDescription, events_requested: [], events_delivered: [] });
    assert.deepEqual((await ssf(idp, alpha.token, 'GET', `/ssf/streams?stream_id=${id}`)).body, replaced.body);

    const deleted = await ssf(idp, alpha.token, 'DELETE', `/ssf/streams?stream_id=${id}`);
    assert.equal(deleted.status, 204);
    assert.equal((await ssf(idp, alpha.token, 'GET', `/ssf/streams?stream_id=${id}`)).status, 404);
    assert.equal((await ssf(idp, alpha.token, 'DELETE', `/ssf/streams?stream_id=${id}`)).status, 404);
  });

  test("a receiver sees and manages only its own streams: another's stream is 404, as a stream of nobody", async () => {
    const mine = await createStream(idp, alpha);
    const theirs = await createStream(idp, beta);
    const listed = await ssf(idp, beta.token, 'GET', '/ssf/streams');
    assert.deepEqual(listed.body.map((s: { stream_id: string }) => s.stream_id), [theirs.stream_id]);
    const nobody = await ssf(idp, beta.token, 'GET', '/ssf/streams?stream_id=AAAAAAAAAAAAAAAAAAAAAA');
    for (const [method, path, body] of [
      ['GET', `/ssf/streams?stream_id=${mine.stream_id}`, undefined],
      ['PATCH', '/ssf/streams', { stream_id: mine.stream_id, description: 'taken over' }],
      ['PUT', '/ssf/streams', { stream_id: mine.stream_id, delivery: { method: POLL } }],
      ['DELETE', `/ssf/streams?stream_id=${mine.stream_id}`, undefined],
      ['GET', `/ssf/status?stream_id=${mine.stream_id}`, undefined],
      ['POST', '/ssf/status', { stream_id: mine.stream_id, status: 'disabled' }],
      ['POST', '/ssf/verify', { stream_id: mine.stream_id }],
      ['POST', `/ssf/poll/${mine.stream_id}`, { returnImmediately: true }],
    ] as const) {
      const res = await ssf(idp, beta.token, method, path, body);
      assert.equal(res.status, 404, `${method} ${path}`);
      assert.equal(res.body.error, nobody.body.error);
      assert.equal(res.body.error_description, `no stream "${mine.stream_id}"`);
    }
    assert.deepEqual((await ssf(idp, alpha.token, 'GET', `/ssf/streams?stream_id=${mine.stream_id}`)).body, mine, 'untouched');
    assert.equal((await ssf(idp, alpha.token, 'GET', `/ssf/status?stream_id=${mine.stream_id}`)).body.status, 'enabled');
    await ssf(idp, alpha.token, 'DELETE', `/ssf/streams?stream_id=${mine.stream_id}`);
    await ssf(idp, beta.token, 'DELETE', `/ssf/streams?stream_id=${theirs.stream_id}`);
  });

  test('bad bodies and parameters are 400 invalid_request naming the problem, never 500', async () => {
    const stream = await createStream(idp, alpha);
    const cases: [string, string, unknown, RegExp][] = [
      ['POST', '/ssf/streams', 'not json', /not valid JSON/],
      ['POST', '/ssf/streams', '[1,2]', /JSON object/],
      ['POST', '/ssf/streams', 'null', /JSON object/],
      ['POST', '/ssf/streams', { events_requested: [TOKEN_REVOKED] }, /delivery is required/],
      ['POST', '/ssf/streams', { delivery: { method: 'urn:ietf:rfc:8935', endpoint_url: 'http://127.0.0.1:9/push' } }, /delivery.method must be "urn:ietf:rfc:8936"/],
      ['POST', '/ssf/streams', { delivery: 'poll' }, /delivery must be an object/],
      ['POST', '/ssf/streams', { delivery: { method: POLL, endpoint_url: 'http://evil.example/' } }, /endpoint_url is set by the transmitter/],
      ['POST', '/ssf/streams', { delivery: { method: POLL }, events_requested: TOKEN_REVOKED }, /events_requested must be an array/],
      ['POST', '/ssf/streams', { delivery: { method: POLL }, events_requested: [1] }, /events_requested must be an array/],
      ['POST', '/ssf/streams', { delivery: { method: POLL }, events_requested: Array.from({ length: 51 }, (_, i) => `urn:x:${i}`) }, /at most 50/],
      ['POST', '/ssf/streams', { delivery: { method: POLL }, description: 7 }, /description must be a string/],
      ['POST', '/ssf/streams', { delivery: { method: POLL }, stream_id: 'mine' }, /stream_id is set by the transmitter/],
      ['POST', '/ssf/streams', { delivery: { method: POLL }, iss: 'https://evil.example' }, /iss is set by the transmitter/],
      ['POST', '/ssf/streams', { delivery: { method: POLL }, aud: 'someone-else' }, /aud is set by the transmitter/],
      ['POST', '/ssf/streams', { delivery: { method: POLL }, events_supported: [] }, /events_supported is set by the transmitter/],
      ['POST', '/ssf/streams', { delivery: { method: POLL }, inactivity_timeout: 1 }, /inactivity_timeout is set by the transmitter/],
      ['POST', '/ssf/streams', { delivery: { method: POLL }, format: 'x' }, /unknown field "format"/],
      ['PATCH', '/ssf/streams', { description: 'x' }, /stream_id is required/],
      ['PATCH', '/ssf/streams', { stream_id: 42 }, /stream_id must be a string/],
      ['PATCH', '/ssf/streams', { stream_id: stream.stream_id, events_delivered: [TOKEN_REVOKED, 'urn:x'] }, /events_delivered is set by the transmitter/],
      ['PATCH', '/ssf/streams', { stream_id: stream.stream_id, aud: 'receiver-beta' }, /aud is set by the transmitter/],
      ['PUT', '/ssf/streams', { stream_id: stream.stream_id }, /delivery is required when replacing/],
      ['PUT', '/ssf/streams', { stream_id: stream.stream_id, delivery: { method: POLL }, description: null }, /description must be a string/],
      ['POST', '/ssf/status', { stream_id: stream.stream_id, status: 'off' }, /status must be "enabled", "paused" or "disabled"/],
      ['POST', '/ssf/status', { stream_id: stream.stream_id, status: 'paused', reason: 5 }, /reason must be a string/],
      ['POST', '/ssf/status', { stream_id: stream.stream_id, status: 'paused', until: 5 }, /unknown field "until"/],
      ['POST', '/ssf/verify', { stream_id: stream.stream_id, state: {} }, /state must be a string/],
      ['POST', `/ssf/poll/${stream.stream_id}`, { maxEvents: -1 }, /maxEvents must be a non-negative integer/],
      ['POST', `/ssf/poll/${stream.stream_id}`, { maxEvents: '10' }, /maxEvents must be a non-negative integer/],
      ['POST', `/ssf/poll/${stream.stream_id}`, { returnImmediately: 'yes' }, /returnImmediately must be true or false/],
      ['POST', `/ssf/poll/${stream.stream_id}`, { ack: 'jti' }, /ack must be an array/],
      ['POST', `/ssf/poll/${stream.stream_id}`, { ack: [{}] }, /ack must be an array/],
      ['POST', `/ssf/poll/${stream.stream_id}`, { setErrs: { a: 'bad' } }, /setErrs values/],
      ['POST', `/ssf/poll/${stream.stream_id}`, { wait: 1 }, /unknown field "wait"/],
    ];
    for (const [method, path, body, message] of cases) {
      const res = await ssf(idp, alpha.token, method, path, body);
      assert.equal(res.status, 400, `${method} ${path} ${JSON.stringify(body)}: ${res.text}`);
      assert.equal(res.body.error, 'invalid_request', res.text);
      assert.match(res.body.error_description, message, `${method} ${path} ${JSON.stringify(body)}`);
    }
    const wrongType = await ssf(idp, alpha.token, 'POST', '/ssf/streams', '{}', { 'content-type': 'text/plain' });
    assert.equal(wrongType.status, 400);
    const huge = await ssf(idp, alpha.token, 'POST', '/ssf/streams', JSON.stringify({ delivery: { method: POLL }, description: 'x'.repeat(70_000) }));
    assert.equal(huge.status, 400);
    assert.match(huge.body.error_description, /must not exceed 65536 bytes/);
    const twice = await ssf(idp, alpha.token, 'GET', `/ssf/streams?stream_id=${stream.stream_id}&stream_id=${stream.stream_id}`);
    assert.equal(twice.status, 400);
    const strange = await ssf(idp, alpha.token, 'GET', `/ssf/streams?stream_id=${encodeURIComponent('../../%00\u2028')}`);
    assert.equal(strange.status, 404);
    assert.equal((await ssf(idp, alpha.token, 'POST', `/ssf/poll/${'x'.repeat(300)}`, {})).status, 404);
    assert.equal((await ssf(idp, alpha.token, 'POST', '/ssf/poll/%E0%A4%A', {})).status, 404, 'malformed percent-encoding');
    assert.equal((await ssf(idp, alpha.token, 'POST', `/ssf/poll/${stream.stream_id}`, '{"ack":[' + '"a",'.repeat(1000) + '"a"]}')).status, 400, 'too many acks');
    assert.deepEqual((await ssf(idp, alpha.token, 'GET', `/ssf/streams?stream_id=${stream.stream_id}`)).body, stream, 'no bad request changed it');
    await ssf(idp, alpha.token, 'DELETE', `/ssf/streams?stream_id=${stream.stream_id}`);
  });

  test('a receiver has at most SSF_MAX_STREAMS_PER_CLIENT streams: a flood of creations is refused with 409', async () => {
    const flood = await receiver(idp, 'receiver-flood');
    const made = [];
    for (let i = 0; i < 3; i += 1) made.push(await createStream(idp, flood));
    const refused = await ssf(idp, flood.token, 'POST', '/ssf/streams', { delivery: { method: POLL } });
    assert.equal(refused.status, 409);
    assert.deepEqual(refused.body, { error: 'invalid_request', error_description: 'a receiver may have at most 3 streams; delete one first' });
    assert.equal((await ssf(idp, flood.token, 'GET', '/ssf/streams')).body.length, 3);
    // Another receiver's quota is its own.
    const other = await createStream(idp, beta);
    await ssf(idp, beta.token, 'DELETE', `/ssf/streams?stream_id=${other.stream_id}`);
    await ssf(idp, flood.token, 'DELETE', `/ssf/streams?stream_id=${made[0]!.stream_id}`);
    assert.equal((await ssf(idp, flood.token, 'POST', '/ssf/streams', { delivery: { method: POLL } })).status, 201);
  });

  test('status: enabled at creation, set to paused with a reason and back (SSF §8.1.2)', async () => {
    const stream = await createStream(idp, alpha);
    const read = (await ssf(idp, alpha.token, 'GET', `/ssf/status?stream_id=${stream.stream_id}`));
    assert.deepEqual(read.body, { stream_id: stream.stream_id, status: 'enabled' });
    const paused = await ssf(idp, alpha.token, 'POST', '/ssf/status', { stream_id: stream.stream_id, status: 'paused', reason: 'maintenance' });
    assert.equal(paused.status, 200);
    assert.deepEqual(paused.body, { stream_id: stream.stream_id, status: 'paused', reason: 'maintenance' });
    assert.deepEqual((await ssf(idp, alpha.token, 'GET', `/ssf/status?stream_id=${stream.stream_id}`)).body, paused.body);
    const enabled = await ssf(idp, alpha.token, 'POST', '/ssf/status', { stream_id: stream.stream_id, status: 'enabled' });
    assert.deepEqual(enabled.body, { stream_id: stream.stream_id, status: 'enabled' });
    assert.equal((await ssf(idp, alpha.token, 'GET', '/ssf/status')).status, 400, 'stream_id is required');
    await ssf(idp, alpha.token, 'DELETE', `/ssf/streams?stream_id=${stream.stream_id}`);
  });

  test('verification more often than min_verification_interval is 429 with Retry-After', async () => {
    const stream = await createStream(idp, alpha);
    assert.equal((await ssf(idp, alpha.token, 'POST', '/ssf/verify', { stream_id: stream.stream_id, state: 'one' })).status, 204);
    const again = await ssf(idp, alpha.token, 'POST', '/ssf/verify', { stream_id: stream.stream_id, state: 'two' });
    assert.equal(again.status, 429);
    assert.equal(again.body.error, 'too_many_requests');
    assert.ok(Number(again.headers.get('retry-after')) >= 1 && Number(again.headers.get('retry-after')) <= 5);
    await ssf(idp, alpha.token, 'DELETE', `/ssf/streams?stream_id=${stream.stream_id}`);
  });
});

describe('the built-in SSF resource server', () => {
  test('is listed by the admin API, owns ssf.manage and cannot be replaced or deleted', async () => {
    const listed = await adminRequest(idp, 'GET', '/resource-servers');
    const builtIn = listed.body.resource_servers.find((s: { identifier: string }) => s.identifier === ssfResource(idp));
    assert.deepEqual(builtIn, { identifier: ssfResource(idp), scopes: ['ssf.manage'], access_token_format: 'opaque', access_token_ttl: null, managed_by: 'idp', created_at: 0 });
    const path = `/resource-servers/${encodeURIComponent(ssfResource(idp))}`;
    assert.equal((await adminRequest(idp, 'PUT', path, { scopes: ['ssf.manage', 'more'] })).status, 409);
    assert.equal((await adminRequest(idp, 'DELETE', path)).status, 409);
    const taken = await adminRequest(idp, 'POST', '/resource-servers', { identifier: 'http://127.0.0.1:9/other', scopes: ['ssf.manage'] });
    assert.equal(taken.status, 409);
    assert.match(taken.body.error_description, /already declared by resource server/);
  });

  test('a client registered with ssf.manage gets a token for it by scope alone', async () => {
    const client = await registerClient(idp, 'receiver-by-scope', ['ssf.manage']);
    const res = await postForm(`${idp.issuer}/token`, client, { grant_type: 'client_credentials', scope: 'ssf.manage' });
    assert.equal(res.status, 200);
    assert.equal(res.body.scope, 'ssf.manage');
    assert.equal((await ssf(idp, res.body.access_token as string, 'GET', '/ssf/streams')).status, 200);
    assert.equal((await ssf(idp, await ssfToken(idp, client), 'GET', '/ssf/streams')).status, 200);
  });
});
