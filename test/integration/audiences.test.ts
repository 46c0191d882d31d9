// Two Service API processes with different identifiers and introspectors over one IDP, every object
// declared only in a seed file (the stack's own plus a billing-api as in the README's "Add your own
// service"): a token for one service is accepted by it and refused by the other. The billing-api's
// format is the other one than this pass's ACCESS_TOKEN_FORMAT, so a JWT-format resource server runs
// next to an opaque one in both passes.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { DEFAULT_SEED_FILE, secretFile, seed } from '../../scripts/seed.ts';
import { postForm, startIdp, type RegisteredClient, type TestIdp } from '../support/idp.ts';
import type { Service } from '../support/process.ts';
import { AUDIENCE, get, MODE, serviceApiEnv, startServiceApi, token } from './stack.ts';

const BILLING = 'http://localhost:4002';
const BILLING_FORMAT = MODE === 'jwt' ? 'opaque' : 'jwt';

let idp: TestIdp;
let credentialsDir: string;
let stackApi: Service;
let billingApi: Service;
const client = (id: string): RegisteredClient => ({ client_id: id, client_secret: readFileSync(secretFile(credentialsDir, id), 'utf8').trim() });
const isJwt = (value: string) => value.split('.').length === 3;

before(async () => {
  idp = await startIdp({ env: { ACCESS_TOKEN_FORMAT: MODE, SERVICE_API_AUDIENCE: AUDIENCE, IDP_INTROSPECTORS: '' }, serviceApi: false });
  const dir = mkdtempSync(join(tmpdir(), 'audiences-'));
  credentialsDir = join(dir, 'credentials');
  const file = JSON.parse(readFileSync(DEFAULT_SEED_FILE, 'utf8'));
  file.resource_servers.push({ identifier: BILLING, scopes: ['billing.read'], access_token_format: BILLING_FORMAT });
  file.clients.push(
    { name: 'billing-worker', grant_types: ['client_credentials'], scopes: ['billing.read'] },
    { name: 'billing-introspector', grant_types: ['client_credentials'], introspects: [BILLING] },
  );
  const seedFile = join(dir, 'seed.json');
  writeFileSync(seedFile, JSON.stringify(file));
  await seed({ idpBase: idp.origin, adminToken: idp.adminToken, credentialsDir, file: seedFile, env: { SERVICE_API_AUDIENCE: AUDIENCE }, log: () => {} });
  [stackApi, billingApi] = await Promise.all([
    startServiceApi(serviceApiEnv(idp, credentialsDir)),
    startServiceApi(
      serviceApiEnv(idp, credentialsDir, {
        SERVICE_API_AUDIENCE: BILLING,
        INTROSPECTION_CLIENT_ID: 'billing-introspector',
        INTROSPECTION_CLIENT_SECRET_FILE: secretFile(credentialsDir, 'billing-introspector'),
      }),
    ),
  ]);
});
after(async () => {
  await Promise.all([stackApi?.stop(), billingApi?.stop()]);
  await idp?.stop();
});

describe(`two Service APIs over one IDP (${MODE}; billing-api ${BILLING_FORMAT})`, () => {
  test("a token for the stack's Service API is accepted by it and refused by billing-api", async () => {
    const forStack = await token(idp, client('solutrix-api'), { scope: 'service.api' });
    assert.equal(isJwt(forStack), MODE === 'jwt');
    const accepted = await get(`${stackApi.origin}/v1/whoami`, forStack);
    assert.equal(accepted.status, 200);
    assert.deepEqual([accepted.body.clientId, accepted.body.scopes], ['solutrix-api', ['service.api']]);
    const refused = await get(`${billingApi.origin}/v1/whoami`, forStack);
    assert.equal(refused.status, 401);
    assert.match(refused.headers.get('www-authenticate') ?? '', /error="invalid_token"/);
  });

  test("a token for billing-api (declared only in the seed file) is accepted by it and refused by the stack's Service API", async () => {
    const forBilling = await token(idp, client('billing-worker'), { scope: 'billing.read' });
    assert.equal(isJwt(forBilling), BILLING_FORMAT === 'jwt', `billing-api's tokens are ${BILLING_FORMAT}`);
    const accepted = await get(`${billingApi.origin}/v1/whoami`, forBilling);
    assert.equal(accepted.status, 200);
    assert.deepEqual([accepted.body.clientId, accepted.body.scopes], ['billing-worker', ['billing.read']]);
    const refused = await get(`${stackApi.origin}/v1/whoami`, forBilling);
    assert.equal(refused.status, 401);
    assert.match(refused.headers.get('www-authenticate') ?? '', /error="invalid_token"/);
  });

  test("an introspector gets active: false for the other resource server's opaque token", async () => {
    // Whichever of the two formats is opaque in this pass.
    const [opaque, owner, stranger] =
      MODE === 'opaque'
        ? [await token(idp, client('solutrix-api'), { scope: 'service.api' }), 'service-introspector', 'billing-introspector']
        : [await token(idp, client('billing-worker'), { scope: 'billing.read' }), 'billing-introspector', 'service-introspector'];
    const introspect = (caller: string) => postForm(`${idp.issuer}/introspect`, client(caller), { token: opaque });
    const seen = await introspect(owner);
    assert.equal(seen.body.active, true);
    assert.equal(seen.body.aud, MODE === 'opaque' ? AUDIENCE : BILLING);
    assert.deepEqual((await introspect(stranger)).body, { active: false });
  });
});
