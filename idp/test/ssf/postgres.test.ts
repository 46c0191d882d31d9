// The SSF transmitter over PostgreSQL with two replicas: any replica serves any stream.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import { clientCredentialsToken, declareResourceServer, registerClient, SERVICE_API, startIdp, type TestIdp } from '../../../test/support/idp.ts';
import { startPostgres, type TestPostgres } from '../../../test/support/postgres.ts';
import { freePort } from '../../../test/support/process.ts';
import { oauth } from '../helpers.ts';
import { createStream, poll, receiver, TOKEN_REVOKED } from './support.ts';

describe('the SSF transmitter on PostgreSQL, two replicas', () => {
  let server: TestPostgres;
  let a: TestIdp;
  let b: TestIdp;
  before(async () => {
    server = await startPostgres();
    const databaseUrl = await server.createDatabase('ssf_http');
    const [portA, portB] = [await freePort(), await freePort()];
    const issuer = `http://127.0.0.1:${portA}/oauth`;
    const env = { IDP_DATABASE_URL: databaseUrl, IDP_ADMIN_TOKEN: randomBytes(24).toString('base64url'), SSF_LONG_POLL_SECONDS: '5' };
    [a, b] = await Promise.all([startIdp({ port: portA, issuer, env, serviceApi: false }), startIdp({ port: portB, issuer, env, serviceApi: false })]);
    await declareResourceServer(a, { identifier: SERVICE_API, scopes: ['service.api'] });
  });
  after(async () => {
    await Promise.all([a?.stop(), b?.stop()]);
    await server?.stop();
  });

  test('a stream created at A, long-polled at B, answers within a few hundred ms when a token is revoked at A, with a SET that verifies against either JWKS', async () => {
    const who = await receiver(a, 'receiver-pg');
    const machine = await registerClient(a, 'machine-pg', ['service.api']);
    const stream = await createStream(a, who);
    const token = await clientCredentialsToken(a, machine, 'service.api');
    const waiting = poll(b, who, stream.stream_id, { returnImmediately: false });
    await new Promise((r) => setTimeout(r, 300));
    assert.equal((await oauth(a, '/revoke', machine, { token })).status, 200);
    const revokedAt = Date.now();
    const res = await waiting;
    const latency = Date.now() - revokedAt;
    assert.ok(latency < 1000, `delivered at B ${latency} ms after the revocation at A`);
    const sets = Object.values(res.body.sets as Record<string, string>);
    assert.equal(sets.length, 1);
    const { payload } = await jwtVerify(sets[0]!, createRemoteJWKSet(new URL(`${a.origin}/oauth/jwks.json`)), { issuer: a.issuer, audience: who.client.client_id, typ: 'secevent+jwt' });
    await jwtVerify(sets[0]!, createRemoteJWKSet(new URL(`${b.origin}/oauth/jwks.json`)), { issuer: a.issuer, audience: who.client.client_id, typ: 'secevent+jwt' });
    assert.deepEqual(payload.sub_id, { format: 'oauth_token', token_type: 'access_token', token_identifier_alg: 'hash_256', token: createHash('sha256').update(token).digest('base64url') });
    assert.deepEqual(Object.keys(payload.events as object), [TOKEN_REVOKED]);
  });
});
