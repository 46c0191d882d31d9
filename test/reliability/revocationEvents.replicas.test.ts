// Shared Signals across IDP replicas (issue 16): two IDP processes over one PostgreSQL database, one
// issuer. A receiver's long poll waits at replica B while the revocation happens at replica A: B must
// be woken by the database (not by its long-poll timeout, 20 s here) and deliver the SET within a second.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, test } from 'node:test';
import { clientCredentialsToken, registerClient, startIdp, type RegisteredClient, type TestIdp } from '../support/idp.ts';
import { startPostgres, type TestPostgres } from '../support/postgres.ts';
import { freePort } from '../support/process.ts';
import { createStream, pollStream, revoke, ssfToken, TOKEN_REVOKED, tokenHash, verifySet, type Json } from '../support/ssf.ts';
import { sleep } from '../support/wait.ts';
import { track } from './stack.ts';

const LONG_POLL_SECONDS = 20;
let server: TestPostgres;
let a: TestIdp;
let b: TestIdp;
let receiver: RegisteredClient;
let caller: RegisteredClient;

before(async () => {
  server = await startPostgres();
  const databaseUrl = await server.createDatabase('ssf_replicas');
  const [portA, portB] = [await freePort(), await freePort()];
  const issuer = `http://127.0.0.1:${portA}/oauth`;
  const env = { IDP_DATABASE_URL: databaseUrl, IDP_ADMIN_TOKEN: randomBytes(24).toString('base64url'), SSF_LONG_POLL_SECONDS: String(LONG_POLL_SECONDS) };
  a = track(await startIdp({ port: portA, issuer, env }));
  b = track(await startIdp({ port: portB, issuer, env, serviceApi: false }));
  receiver = await registerClient(a, 'ssf-receiver', ['ssf.manage']);
  caller = await registerClient(a, 'caller', ['service.api']);
});
after(async () => {
  await Promise.all([a?.stop(), b?.stop()]);
  await server?.stop();
});

test('revoked at replica A, the long poll waiting at replica B delivers the SET within 1 s (woken across replicas)', async () => {
  const manage = await ssfToken(a, receiver);
  const stream = await createStream(a, manage, 'replica check');
  const t = await clientCredentialsToken(a, caller, 'service.api');
  // The long poll parks at B before anything is queued.
  const waiting = pollStream(b, manage, stream.stream_id, { returnImmediately: false }, b.origin);
  await sleep(500);
  assert.equal(await revoke(a, caller, t), 200);
  const revokedAt = performance.now();
  const { sets } = await waiting;
  const ms = performance.now() - revokedAt;
  const entries = Object.entries(sets);
  assert.equal(entries.length, 1, JSON.stringify(Object.keys(sets)));
  const [jti, set] = entries[0]!;
  // iss is the one shared issuer (A's URL); the replicas share the JWKS.
  const { payload } = await verifySet(a, set, 'ssf-receiver');
  assert.equal(payload.jti, jti);
  assert.deepEqual(Object.keys(payload.events as Json), [TOKEN_REVOKED]);
  assert.equal((payload.sub_id as Json).token, tokenHash(t));
  assert.ok(ms < 1000, `B answered ${Math.round(ms)} ms after A's revocation (its long poll lasts ${LONG_POLL_SECONDS} s)`);
  console.log(`# replicas: revoked at A, delivered by B's waiting long poll after ${Math.round(ms)} ms`);
});
