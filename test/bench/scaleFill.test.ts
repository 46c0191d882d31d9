// The cost curve's store filling (bench/scaleFill.ts) against a real IDP: the rows it writes are
// tokens the IDP honours (active, of the template's client and audience), the expired ones are not,
// and a template it cannot vary faithfully is refused.
import assert from 'node:assert/strict';
import Database from 'better-sqlite3';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fillSqlite, payloadMaker, tokenId, type Fill } from '../../bench/scaleFill.ts';
import { clientCredentialsToken, postForm, registerClient, SERVICE_API, startIdp, type RegisteredClient, type TestIdp } from '../support/idp.ts';

const template = {
  model: 'ClientCredentials',
  id: 'GVydXmIUKGxYUAsqikHoBimxjk3Ev6H3KdbU3lGJwCv',
  payload: '{"iat":1796220405,"exp":1796224005,"scope":"service.api","kind":"ClientCredentials","jti":"GVydXmIUKGxYUAsqikHoBimxjk3Ev6H3KdbU3lGJwCv","clientId":"bench-caller","aud":"http://localhost:4001"}',
};

describe('payloadMaker', () => {
  test('changes only jti, iat and exp of the payload oidc-provider wrote', () => {
    const made = payloadMaker(template)('X'.repeat(43), { iat: 10, exp: 20 });
    assert.deepEqual(JSON.parse(made), { ...JSON.parse(template.payload), jti: 'X'.repeat(43), iat: 10, exp: 20 });
    assert.deepEqual(Object.keys(JSON.parse(made)), Object.keys(JSON.parse(template.payload)));
  });

  test('refuses a template whose jti is not its id, or that holds a value to replace twice', () => {
    assert.throws(() => payloadMaker({ ...template, id: 'other' }), /not an oidc-provider token/);
    const twice = template.payload.replace('"scope":"service.api"', '"scope":"service.api","extra":{"iat":1796220405}');
    assert.throws(() => payloadMaker({ ...template, payload: twice }), /"iat":1796220405 not exactly once/);
  });
});

describe('fillSqlite', () => {
  let idp: TestIdp;
  let introspector: RegisteredClient;
  let caller: RegisteredClient;
  const fill: Fill = { live: 40, expired: 4, seed: 'test', now: Math.floor(Date.now() / 1000), ttlSeconds: 600 };

  before(async () => {
    idp = await startIdp({ env: { LOG_LEVEL: 'silent' } });
    introspector = await registerClient(idp, 'service-introspector');
    caller = await registerClient(idp, 'bench-caller', ['service.api']);
    const token = await clientCredentialsToken(idp, caller, 'service.api');
    await idp.stop();
    fillSqlite(join(idp.dataDir, 'idp.sqlite'), { model: 'ClientCredentials', id: token }, fill);
    idp = await idp.restart();
  });
  after(async () => {
    await idp?.stop();
    rmSync(idp.dataDir, { recursive: true, force: true });
  });

  const introspect = async (token: string) => (await postForm(`${idp.issuer}/introspect`, introspector, { token })).body;

  test('every filled live token introspects active for the template\'s client and audience, until its own exp', async () => {
    for (let i = 0; i < fill.live; i++) {
      const body = await introspect(tokenId(fill.seed, 'live', i));
      assert.equal(body.active, true, `token #${i}`);
      assert.equal(body.client_id, caller.client_id);
      assert.equal(body.aud, SERVICE_API);
      assert.equal(body.scope, 'service.api');
      assert.equal(body.exp, fill.now + fill.ttlSeconds);
    }
  });

  test('the expired filled tokens introspect inactive', async () => {
    for (let i = 0; i < fill.expired; i++) assert.deepEqual(await introspect(tokenId(fill.seed, 'expired', i)), { active: false });
  });

  test('adds exactly live + expired rows, and the expired ones are what a purge finds', async () => {
    await idp.stop();
    const db = new Database(join(idp.dataDir, 'idp.sqlite'), { readonly: true });
    try {
      const count = (where: string) => (db.prepare(`SELECT count(*) AS n FROM oidc WHERE model = 'ClientCredentials' AND ${where}`).get() as { n: number }).n;
      assert.equal(count('1'), 1 + fill.live + fill.expired);
      assert.equal(count(`expires_at <= ${fill.now}`), fill.expired);
    } finally {
      db.close();
    }
    idp = await idp.restart();
  });
});
