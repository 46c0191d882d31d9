// RFC 8936 poll delivery of the SSF transmitter: signed SETs, long polling, acknowledgement.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { createRemoteJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import { clientCredentialsToken, registerClient, startIdp, type RegisteredClient, type TestIdp } from '../../../test/support/idp.ts';
import { oauth } from '../helpers.ts';
import { claimsOf, createStream, poll, receiver, ssf, STREAM_UPDATED, TOKEN_REVOKED, VERIFICATION, type Receiver } from './support.ts';

const LONG_POLL_SECONDS = 3;

let idp: TestIdp;
let alpha: Receiver;
let machine: RegisteredClient;
before(async () => {
  idp = await startIdp({ env: { SSF_LONG_POLL_SECONDS: String(LONG_POLL_SECONDS), SSF_MIN_VERIFICATION_INTERVAL: '0' } });
  alpha = await receiver(idp, 'receiver-alpha');
  machine = await registerClient(idp, 'machine', ['service.api']);
});
after(() => idp?.stop());

const verify = async (streamId: string, state?: string) => {
  const res = await ssf(idp, alpha.token, 'POST', '/ssf/verify', { stream_id: streamId, ...(state ? { state } : {}) });
  assert.equal(res.status, 204, res.text);
};
const sha256 = (value: string) => createHash('sha256').update(value).digest('base64url');

describe('SETs', () => {
  test('a verification event is delivered by poll as a SET of the contract: typ secevent+jwt, iss, aud, iat, jti, sub_id, events', async () => {
    const stream = await createStream(idp, alpha);
    const before = Math.floor(Date.now() / 1000);
    await verify(stream.stream_id, 'state-123');
    const res = await poll(idp, alpha, stream.stream_id);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('cache-control'), 'no-store');
    assert.equal(res.body.moreAvailable, false);
    const [[jti, set]] = Object.entries(res.body.sets as Record<string, string>) as [[string, string]];
    const header = decodeProtectedHeader(set);
    const jwks = (await (await fetch(`${idp.issuer}/jwks.json`)).json()) as { keys: { kid: string; alg: string }[] };
    assert.deepEqual(header, { alg: jwks.keys[0]!.alg, kid: jwks.keys[0]!.kid, typ: 'secevent+jwt' });
    const claims = claimsOf(set);
    assert.ok(claims.iat >= before && claims.iat <= Math.ceil(Date.now() / 1000), 'iat is when the event was queued');
    assert.deepEqual(claims, {
      iss: idp.issuer,
      aud: alpha.client.client_id,
      iat: claims.iat,
      jti,
      sub_id: { format: 'opaque', id: stream.stream_id },
      events: { [VERIFICATION]: { event_timestamp: claims.iat, state: 'state-123' } },
    });
  });

  test('an independent check verifies a polled SET with jose alone, against the published JWKS', async () => {
    const stream = await createStream(idp, alpha);
    await verify(stream.stream_id);
    const sets = Object.values((await poll(idp, alpha, stream.stream_id)).body.sets as Record<string, string>);
    assert.equal(sets.length, 1);
    const jwks = createRemoteJWKSet(new URL(`${idp.issuer}/jwks.json`));
    const { payload, protectedHeader } = await jwtVerify(sets[0]!, jwks, { issuer: idp.issuer, audience: alpha.client.client_id, typ: 'secevent+jwt' });
    assert.equal(protectedHeader.typ, 'secevent+jwt');
    assert.deepEqual(Object.keys(payload.events as object), [VERIFICATION]);
    await assert.rejects(jwtVerify(sets[0]!, jwks, { issuer: idp.issuer, audience: 'another-receiver', typ: 'secevent+jwt' }), { code: 'ERR_JWT_CLAIM_VALIDATION_FAILED' });
  });
});

describe('long polling', () => {
  test('a long poll started before an opaque token is revoked answers within a few hundred ms with its token-revoked SET, named by the SHA-256 of the token', async () => {
    const stream = await createStream(idp, alpha);
    const token = await clientCredentialsToken(idp, machine, 'service.api');
    const started = Date.now();
    const waiting = poll(idp, alpha, stream.stream_id, { returnImmediately: false });
    let answered = false;
    void waiting.then(() => (answered = true));
    // Long enough for the poll to reach the IDP and wait there.
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(answered, false, 'the poll waits while nothing is queued');
    const revoked = await oauth(idp, '/revoke', machine, { token });
    assert.equal(revoked.status, 200);
    const revokedAt = Date.now();
    const res = await waiting;
    const latency = Date.now() - revokedAt;
    assert.ok(latency < 500, `delivered ${latency} ms after the revocation was answered`);
    assert.ok(Date.now() - started < LONG_POLL_SECONDS * 1000, 'before the long poll would have timed out');
    assert.equal(res.status, 200);
    const sets = Object.values(res.body.sets as Record<string, string>);
    assert.equal(sets.length, 1);
    const claims = claimsOf(sets[0]!);
    assert.deepEqual(claims.sub_id, { format: 'oauth_token', token_type: 'access_token', token_identifier_alg: 'hash_256', token: sha256(token) });
    assert.deepEqual(claims.events, { [TOKEN_REVOKED]: { event_timestamp: claims.iat, client_id: machine.client_id } });
    assert.ok(!sets[0]!.includes(token) && !JSON.stringify(claims).includes(token), 'never the token itself');
  });

  test('a long poll with nothing queued answers an empty set after SSF_LONG_POLL_SECONDS; returnImmediately answers at once', async () => {
    const stream = await createStream(idp, alpha);
    const immediate = Date.now();
    const now = await poll(idp, alpha, stream.stream_id, { returnImmediately: true });
    assert.deepEqual(now.body, { sets: {}, moreAvailable: false });
    assert.ok(Date.now() - immediate < 1000);
    const started = Date.now();
    const res = await poll(idp, alpha, stream.stream_id, {});
    const waited = Date.now() - started;
    assert.deepEqual(res.body, { sets: {}, moreAvailable: false });
    assert.ok(waited >= LONG_POLL_SECONDS * 1000 - 100 && waited < LONG_POLL_SECONDS * 1000 + 2000, `waited ${waited} ms`);
  });

  test('a long poll on a stream deleted meanwhile answers at once', async () => {
    const stream = await createStream(idp, alpha);
    const started = Date.now();
    const waiting = poll(idp, alpha, stream.stream_id, { returnImmediately: false });
    await new Promise((r) => setTimeout(r, 300));
    assert.equal((await ssf(idp, alpha.token, 'DELETE', `/ssf/streams?stream_id=${stream.stream_id}`)).status, 204);
    const res = await waiting;
    assert.ok(Date.now() - started < LONG_POLL_SECONDS * 1000 - 500, 'woken by the deletion');
    assert.deepEqual(res.body, { sets: {}, moreAvailable: false });
    assert.equal((await poll(idp, alpha, stream.stream_id)).status, 404);
  });
});

describe('acknowledgement', () => {
  test('unacknowledged SETs are redelivered; acknowledged ones are deleted; maxEvents pages with moreAvailable', async () => {
    const stream = await createStream(idp, alpha);
    await verify(stream.stream_id, 'first');
    await verify(stream.stream_id, 'second');
    const first = await poll(idp, alpha, stream.stream_id, { returnImmediately: true, maxEvents: 1 });
    assert.equal(Object.keys(first.body.sets).length, 1);
    assert.equal(first.body.moreAvailable, true);
    const all = await poll(idp, alpha, stream.stream_id);
    const jtis = Object.keys(all.body.sets);
    assert.equal(jtis.length, 2);
    assert.equal(jtis[0], Object.keys(first.body.sets)[0], 'oldest first, and redelivered');
    assert.deepEqual(jtis.map((jti) => claimsOf(all.body.sets[jti]).events[VERIFICATION].state), ['first', 'second']);
    const again = await poll(idp, alpha, stream.stream_id);
    assert.deepEqual(Object.keys(again.body.sets), jtis, 'nothing acknowledged, everything again');

    const acked = await poll(idp, alpha, stream.stream_id, { returnImmediately: true, ack: [jtis[0]] });
    assert.deepEqual(Object.keys(acked.body.sets), [jtis[1]], 'the acknowledgement applies before the answer');
    // setErrs counts as delivered too: the receiver will not do better with the same SET.
    const errs = await poll(idp, alpha, stream.stream_id, { returnImmediately: true, setErrs: { [jtis[1]!]: { err: 'invalid_request', description: 'test' } } });
    assert.deepEqual(errs.body, { sets: {}, moreAvailable: false });
  });

  test('maxEvents 0 only acknowledges and says whether more is available', async () => {
    const stream = await createStream(idp, alpha);
    await verify(stream.stream_id);
    const [jti] = Object.keys((await poll(idp, alpha, stream.stream_id)).body.sets);
    const only = await poll(idp, alpha, stream.stream_id, { maxEvents: 0 });
    assert.deepEqual(only.body, { sets: {}, moreAvailable: true });
    assert.deepEqual((await poll(idp, alpha, stream.stream_id, { maxEvents: 0, ack: [jti] })).body, { sets: {}, moreAvailable: false });
  });
});

describe('status and delivery', () => {
  test('a paused stream delivers nothing; enabled again, it delivers what it held and the stream-updated events of its status changes', async () => {
    const stream = await createStream(idp, alpha);
    assert.equal((await ssf(idp, alpha.token, 'POST', '/ssf/status', { stream_id: stream.stream_id, status: 'paused', reason: 'maintenance' })).status, 200);
    await verify(stream.stream_id, 'held');
    assert.deepEqual((await poll(idp, alpha, stream.stream_id)).body, { sets: {}, moreAvailable: false });
    const waiting = poll(idp, alpha, stream.stream_id, { returnImmediately: false });
    await new Promise((r) => setTimeout(r, 300));
    const started = Date.now();
    assert.equal((await ssf(idp, alpha.token, 'POST', '/ssf/status', { stream_id: stream.stream_id, status: 'enabled' })).status, 200);
    const res = await waiting;
    assert.ok(Date.now() - started < 1000, 'enabling wakes the waiting poll');
    const events = Object.values(res.body.sets as Record<string, string>).map((set) => claimsOf(set));
    assert.deepEqual(
      events.map((claims) => [claims.sub_id, claims.events]),
      [
        [{ format: 'opaque', id: stream.stream_id }, { [STREAM_UPDATED]: { event_timestamp: events[0]!.iat, status: 'paused', reason: 'maintenance' } }],
        [{ format: 'opaque', id: stream.stream_id }, { [VERIFICATION]: { event_timestamp: events[1]!.iat, state: 'held' } }],
        [{ format: 'opaque', id: stream.stream_id }, { [STREAM_UPDATED]: { event_timestamp: events[2]!.iat, status: 'enabled' } }],
      ],
    );
  });

  test('setting the status it has already queues nothing', async () => {
    const stream = await createStream(idp, alpha);
    assert.equal((await ssf(idp, alpha.token, 'POST', '/ssf/status', { stream_id: stream.stream_id, status: 'enabled' })).status, 200);
    assert.deepEqual((await poll(idp, alpha, stream.stream_id)).body, { sets: {}, moreAvailable: false });
  });
});
