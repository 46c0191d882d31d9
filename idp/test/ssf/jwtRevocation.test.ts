// RFC 7009 revocation of the IDP's own JWT access tokens (RFC 9068), announced as Shared Signals.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { decodeJwt, generateKeyPair, SignJWT } from 'jose';
import { clientCredentialsToken, registerClient, startIdp, type RegisteredClient, type TestIdp } from '../../../test/support/idp.ts';
import { introspect, oauth } from '../helpers.ts';
import { claimsOf, createStream, poll, receiver, TOKEN_REVOKED, type Receiver } from './support.ts';

let idp: TestIdp;
let alpha: Receiver;
let machine: RegisteredClient;
let other: RegisteredClient;
let stream: { stream_id: string };
before(async () => {
  idp = await startIdp({ env: { ACCESS_TOKEN_FORMAT: 'jwt' } });
  alpha = await receiver(idp, 'receiver-alpha');
  machine = await registerClient(idp, 'machine', ['service.api']);
  other = await registerClient(idp, 'other-machine', ['service.api']);
  stream = await createStream(idp, alpha);
});
after(() => idp?.stop());

const drain = async () => {
  const sets = Object.entries((await poll(idp, alpha, stream.stream_id)).body.sets as Record<string, string>);
  if (sets.length) await poll(idp, alpha, stream.stream_id, { returnImmediately: true, maxEvents: 0, ack: sets.map(([jti]) => jti) });
  return sets.map(([, set]) => claimsOf(set));
};

describe('revoking a JWT access token at /oauth/revoke', () => {
  test('its own client revokes it: 200 and a token-revoked SET naming it by jti, with its exp', async () => {
    const token = await clientCredentialsToken(idp, machine, 'service.api');
    const { jti, exp } = decodeJwt(token);
    assert.equal(token.split('.').length, 3, 'a JWT');
    const res = await oauth(idp, '/revoke', machine, { token });
    assert.equal(res.status, 200, res.text);
    assert.equal(res.text, '');
    const events = await drain();
    assert.equal(events.length, 1);
    assert.deepEqual(events[0]!.sub_id, { format: 'oauth_token', token_type: 'access_token', token_identifier_alg: 'jti', token: jti });
    assert.deepEqual(events[0]!.events, { [TOKEN_REVOKED]: { event_timestamp: events[0]!.iat, exp, client_id: machine.client_id, sub: machine.client_id } });
    // Revoked again: still 200 (RFC 7009), and no second event.
    assert.equal((await oauth(idp, '/revoke', machine, { token })).status, 200);
    assert.deepEqual(await drain(), []);
  });

  test("another confidential client's revocation is refused as oidc-provider refuses it for opaque tokens, and revokes nothing", async () => {
    const token = await clientCredentialsToken(idp, machine, 'service.api');
    const res = await oauth(idp, '/revoke', other, { token });
    assert.equal(res.status, 400);
    assert.deepEqual(res.body, { error: 'invalid_request', error_description: 'client is not authorized to revoke the presented token' });
    assert.deepEqual(await drain(), []);
    assert.equal((await oauth(idp, '/revoke', machine, { token })).status, 200, 'its own client still can');
    assert.equal((await drain()).length, 1);
  });

  test('a JWS the IDP did not sign (another key, or another issuer) is answered 200 and revokes nothing (RFC 7009 §2.2)', async () => {
    const genuine = decodeJwt(await clientCredentialsToken(idp, machine, 'service.api'));
    const { privateKey } = await generateKeyPair('RS256');
    const forged = await new SignJWT({ ...genuine }).setProtectedHeader({ alg: 'RS256', typ: 'at+jwt', kid: 'forged' }).sign(privateKey);
    const res = await oauth(idp, '/revoke', machine, { token: forged });
    assert.equal(res.status, 200);
    assert.equal(res.text, '');
    const unsigned = `${Buffer.from('{"alg":"none","typ":"at+jwt"}').toString('base64url')}.${Buffer.from(JSON.stringify(genuine)).toString('base64url')}.`;
    assert.equal((await oauth(idp, '/revoke', machine, { token: unsigned })).status, 200);
    assert.deepEqual(await drain(), [], 'nothing was revoked');
  });

  test('without client authentication it is still 401 invalid_client', async () => {
    const token = await clientCredentialsToken(idp, machine, 'service.api');
    const res = await oauth(idp, '/revoke', undefined, { token });
    assert.equal(res.status, 401);
    assert.equal(res.body.error, 'invalid_client');
    assert.deepEqual(await drain(), []);
  });

  test('introspection of JWTs is unchanged: oidc-provider does not introspect them at all', async () => {
    const token = await clientCredentialsToken(idp, machine, 'service.api');
    const res = await introspect(idp, machine, token);
    assert.equal(res.status, 400);
    assert.equal(res.body.error, 'unsupported_token_type');
  });
});
