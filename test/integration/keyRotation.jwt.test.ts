// Signing-key rotation end to end, in jwt mode only (the `.jwt.test.ts` suffix: scripts/test.ts runs it
// in the jwt pass; signing keys do not sign opaque access tokens). The IDP is restarted after each
// `npm run keys` step — no longer needed (idp/test/keys.test.ts: a running IDP follows each step), but
// it shows the keys of each step survive a restart; the Service API process keeps running with its JWKS
// cache. Its JWKS cooldown and principal cache are off (0 s), so an unknown kid is fetched at once
// and every request checks the signature: no waiting on timers here (the cooldown and the principal
// cache have their own tests in service-api/test/auth/jwt.test.ts).
import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import { decodeProtectedHeader } from 'jose';
import { pino } from 'pino';
import type { RegisteredClient, TestIdp } from '../support/idp.ts';
import type { Service } from '../support/process.ts';
import { createApp as createSolutrixApp } from '../../solutrix-api/src/app.ts';
import { loadConfig as loadSolutrixConfig } from '../../solutrix-api/src/config.ts';
import { createServiceTokenClient } from '../../solutrix-api/src/security/serviceToken.ts';
import { serve } from '../../service-api/test/support/http.ts';
import { readJwks, rotate } from '../../scripts/keys.ts';
import { get, requestLines, serviceApiEnv, solutrixEnv, startSeededIdp, startServiceApi, token } from './stack.ts';
import { eventually, sleep } from '../support/wait.ts';

let idp: TestIdp;
let credentialsDir: string;
let client: (id: string) => RegisteredClient;
let serviceApi: Service;

before(async () => {
  ({ idp, credentialsDir, client } = await startSeededIdp('jwt'));
  serviceApi = await startServiceApi(serviceApiEnv(idp, credentialsDir, { JWKS_COOLDOWN: '0', JWT_CACHE_MAX_TTL: '0' }));
});
after(async () => {
  await serviceApi?.stop();
  await idp?.stop();
});

const kidOf = (t: string) => decodeProtectedHeader(t).kid;
const whoami = (t: string) => get(`${serviceApi.origin}/v1/whoami`, t);
/** JWKS requests this IDP process has served so far (the Service API's, and this test's own checks). */
const jwksFetches = () => requestLines(idp, 'GET', '/oauth/jwks.json').length;

it('add → promote → retire: new-key tokens verify via an unknown-kid refetch; old-key tokens stop verifying once the JWKS is refetched', async () => {
  const machine = client('solutrix-api');
  const oldKid = readJwks(idp.dataDir).keys[0]!.kid!;
  const oldToken = await token(idp, machine, { scope: 'service.api' });
  assert.equal(kidOf(oldToken), oldKid);
  assert.equal((await whoami(oldToken)).status, 200);
  // Request lines are written as a response ends, possibly after the client has it: poll for each count.
  let fetches = await eventually(jwksFetches, 1);
  assert.equal(fetches, 1);

  // Solutrix's cached service token, signed by the old key (for the retry at the end).
  const solutrixConfig = loadSolutrixConfig({ ...solutrixEnv(idp, credentialsDir, serviceApi.origin, 'jwt') });
  const tokens = createServiceTokenClient(solutrixConfig.serviceToken);
  const solutrix = await serve(createSolutrixApp(solutrixConfig, { serviceToken: tokens, log: pino({ level: 'silent' }) }));

  try {
    assert.equal(kidOf(await tokens.getToken()), oldKid);

    // 1. add: published, not signing yet.
    const added = await rotate(idp.dataDir, 'add');
    const newKid = /^added (\S+)/.exec(added)![1]!;
    idp = await idp.restart();
    const published = (await get(`${idp.issuer}/jwks.json`)).body as { keys: { kid: string }[] };
    assert.deepEqual(published.keys.map((k) => k.kid), [oldKid, newKid]);
    assert.equal(kidOf(await token(idp, machine, { scope: 'service.api' })), oldKid);

    // 2. promote: new tokens carry the new kid, unknown to the Service API's cache → one refetch.
    await rotate(idp.dataDir, 'promote', newKid);
    idp = await idp.restart();
    fetches = jwksFetches(); // a restarted IDP's output starts empty
    const newToken = await token(idp, machine, { scope: 'service.api' });
    assert.equal(kidOf(newToken), newKid);
    assert.equal((await whoami(newToken)).status, 200);
    assert.equal(await eventually(() => jwksFetches() - fetches, 1), 1, 'exactly one refetch for the unknown kid');
    assert.equal((await whoami(await token(idp, machine, { scope: 'service.api' }))).status, 200);
    assert.equal((await whoami(oldToken)).status, 200, 'old-key tokens still verify while the old key is published');
    assert.equal(jwksFetches() - fetches, 1);

    // 3. retire: gone from the JWKS. The Service API's cached copy still holds it until it refetches
    // (JWKS_CACHE_MAX_AGE, or an unknown kid once the cooldown has passed) — that is the retire delay.
    await rotate(idp.dataDir, 'retire', oldKid);
    idp = await idp.restart();
    const remaining = (await get(`${idp.issuer}/jwks.json`)).body as { keys: { kid: string }[] };
    assert.deepEqual(remaining.keys.map((k) => k.kid), [newKid]);
    fetches = await eventually(jwksFetches, 1); // this test's own GET just above
    assert.equal(fetches, 1);
    assert.equal((await whoami(oldToken)).status, 200, 'still in the cached JWKS');

    const foreign = `${Buffer.from(JSON.stringify({ alg: 'RS256', typ: 'at+jwt', kid: 'unknown-kid' })).toString('base64url')}.${oldToken.split('.')[1]}.${oldToken.split('.')[2]}`;
    assert.equal((await whoami(foreign)).status, 401);
    assert.equal(await eventually(() => jwksFetches() - fetches, 1), 1, 'the unknown kid made the Service API refetch');
    const rejected = await whoami(oldToken);
    assert.equal(rejected.status, 401);
    assert.deepEqual(rejected.body, { error: 'invalid_token', error_description: 'the token signature is not valid' });
    assert.equal((await whoami(newToken)).status, 200);

    // Solutrix still holds its old-key token: the Service API's 401 makes it fetch a new one, once.
    const res = await get(`${solutrix.baseUrl}/v1/service/whoami`);
    assert.equal(res.status, 200);
    assert.equal(res.body.clientId, 'solutrix-api');
    assert.equal(tokens.stats.tokenRequests, 2);
    assert.equal(kidOf(await tokens.getToken()), newKid);
  } finally {
    await solutrix.stop();
  }
});
