import assert from 'node:assert/strict';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { rotate } from '../../scripts/keys.ts';
import { adminRequest, startIdp, type TestIdp } from '../../test/support/idp.ts';
import { poll } from '../../test/support/wait.ts';

const mode = (file: string) => statSync(file).mode & 0o777;
const kids = async (idp: TestIdp) => ((await (await fetch(`${idp.issuer}/jwks.json`)).json()) as { keys: { kid: string }[] }).keys.map((k) => k.kid);

describe('the data dir', () => {
  let idp: TestIdp;
  let kid: string[];
  before(async () => {
    idp = await startIdp();
    kid = await kids(idp);
  });
  after(() => idp?.stop());

  test('the data dir holds idp.sqlite, jwks.json and cookie-keys.json; the key files are owner-only (0600)', () => {
    assert.ok(statSync(join(idp.dataDir, 'idp.sqlite')).isFile());
    assert.equal(mode(join(idp.dataDir, 'jwks.json')), 0o600);
    assert.equal(mode(join(idp.dataDir, 'cookie-keys.json')), 0o600);
    const jwks = JSON.parse(readFileSync(join(idp.dataDir, 'jwks.json'), 'utf8')) as { keys: { kid: string; d?: string }[] };
    assert.deepEqual(jwks.keys.map((k) => k.kid), kid, 'the published key is the stored one');
    assert.equal(typeof jwks.keys[0]?.d, 'string', 'the stored key is private');
  });

  test('npm run keys add / promote / retire on the data dir: the running IDP follows each step without a restart', async () => {
    const pid = idp.child.pid;
    const [old] = kid;
    const added = /^added (\S+)/.exec(await rotate(idp.dataDir, 'add'))![1]!;
    assert.deepEqual(await poll(() => kids(idp), (k) => k.length === 2, { timeoutMs: 10_000 }), [old, added]);
    await rotate(idp.dataDir, 'promote', added);
    assert.deepEqual(await poll(() => kids(idp), (k) => k[0] === added, { timeoutMs: 10_000 }), [added, old]);
    await rotate(idp.dataDir, 'retire', old!);
    assert.deepEqual(await poll(() => kids(idp), (k) => k.length === 1, { timeoutMs: 10_000 }), [added]);
    assert.equal(idp.child.pid, pid);
    assert.match(idp.output(), /"msg":"signing keys changed"/);
  });
});

describe('without IDP_ADMIN_TOKEN', () => {
  let idp: TestIdp;
  before(async () => {
    idp = await startIdp({ env: { IDP_ADMIN_TOKEN: '' } });
  });
  after(() => idp?.stop());

  const fileToken = () => readFileSync(join(idp.dataDir, 'admin-token'), 'utf8').trim();

  test('an owner-only admin-token file is generated in the data dir and the admin API accepts it', async () => {
    const file = join(idp.dataDir, 'admin-token');
    assert.equal(mode(file), 0o600);
    const token = fileToken();
    assert.match(token, /^[A-Za-z0-9_-]{43}$/);
    assert.equal((await adminRequest({ origin: idp.origin, adminToken: token }, 'GET', '/clients')).status, 200);
    assert.equal((await adminRequest({ origin: idp.origin, adminToken: '' }, 'GET', '/clients')).status, 401, 'an empty token is no token');
  });

  test('the output names the file but never contains the token', () => {
    const output = idp.output();
    assert.ok(output.includes(join(idp.dataDir, 'admin-token')), output);
    assert.equal(output.includes(fileToken()), false);
  });

  test('the generated admin token survives a restart', async () => {
    const token = fileToken();
    idp = await idp.restart();
    assert.equal(fileToken(), token);
    assert.equal((await adminRequest({ origin: idp.origin, adminToken: token }, 'GET', '/clients')).status, 200);
    assert.equal(idp.output().includes(token), false);
  });

  test('a configured IDP_ADMIN_TOKEN takes precedence over the file', async () => {
    const fromFile = fileToken();
    await idp.stop();
    idp = await startIdp({ dataDir: idp.dataDir, port: idp.port, env: { IDP_ADMIN_TOKEN: 'configured-admin-token-0123456789' } });
    assert.equal((await adminRequest(idp, 'GET', '/clients')).status, 200);
    assert.equal((await adminRequest({ origin: idp.origin, adminToken: fromFile }, 'GET', '/clients')).status, 401);
  });
});

