// The seed (scripts/seed.ts) against a real IDP process: idempotence, update in place without a new
// secret, rotation of a lost secret, --prune touching only what the seed created, and every class of
// bad file stopping it before the first write with each problem named by its JSON path.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { DEFAULT_SEED_FILE, secretFile, seed, SeedFileError, type SeedResult } from '../../scripts/seed.ts';
import { readSeedFile } from '../../scripts/seedFile.ts';
import { adminRequest, postForm, startIdp, type TestIdp } from '../support/idp.ts';

const run = promisify(execFile);
const BILLING = 'http://localhost:4002';

let idp: TestIdp;
let dir: string;
let credentialsDir: string;
const lines: string[] = [];

type File = { resource_servers: Record<string, unknown>[]; clients: Record<string, unknown>[]; users?: Record<string, unknown>[]; [key: string]: unknown };
const base = (): File => ({
  $schema: './seed.schema.json',
  resource_servers: [
    { identifier: '${SERVICE_API_AUDIENCE:-http://localhost:4001}', scopes: ['service.api'] },
    { identifier: BILLING, scopes: ['billing.read'], access_token_format: 'jwt' },
  ],
  clients: [
    { name: 'service-introspector', grant_types: ['client_credentials'], scopes: [], introspects: ['http://localhost:4001'] },
    { name: 'solutrix-api', grant_types: ['client_credentials'], scopes: ['service.api'] },
    { name: 'billing-worker', grant_types: ['client_credentials'], scopes: ['billing.read'] },
    { name: 'billing-introspector', grant_types: ['client_credentials'], introspects: [BILLING] },
  ],
  users: [{ username: 'carol', password: 'carol-local-only', name: 'Carol Example' }],
});

let files = 0;
function write(content: File | string): string {
  const file = join(dir, `seed-${files++}.json`);
  writeFileSync(file, typeof content === 'string' ? content : JSON.stringify(content, null, 2));
  return file;
}
const apply = (file: string, extra: { prune?: boolean; env?: NodeJS.ProcessEnv } = {}): Promise<SeedResult> =>
  seed({ idpBase: idp.origin, adminToken: idp.adminToken, credentialsDir, file, env: extra.env ?? {}, prune: extra.prune, log: (line) => lines.push(line) });
const secretOf = (client: string) => readFileSync(secretFile(credentialsDir, client), 'utf8').trim();
const state = async () => ({
  servers: (await adminRequest(idp, 'GET', '/resource-servers')).body,
  clients: (await adminRequest(idp, 'GET', '/clients')).body,
  users: (await adminRequest(idp, 'GET', '/users')).body,
  secrets: readdirSync(credentialsDir).sort().map((f) => [f, readFileSync(join(credentialsDir, f), 'utf8')]),
});
const tokenFor = (client: string, scope: string) =>
  postForm(`${idp.issuer}/token`, { client_id: client, client_secret: secretOf(client) }, { grant_type: 'client_credentials', scope });

before(async () => {
  idp = await startIdp({ env: { IDP_INTROSPECTORS: '' }, serviceApi: false });
  dir = mkdtempSync(join(tmpdir(), 'seed-test-'));
  credentialsDir = join(dir, 'credentials');
});
after(async () => {
  await idp?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('applying a seed file', () => {
  test('the first run creates every object, one line each, secrets in 0600 files; the second changes nothing', async () => {
    const file = write(base());
    lines.length = 0;
    const first = await apply(file);
    assert.deepEqual(first, {
      resourceServers: { 'http://localhost:4001': 'created', [BILLING]: 'created' },
      clients: { 'service-introspector': 'created', 'solutrix-api': 'created', 'billing-worker': 'created', 'billing-introspector': 'created' },
      users: { carol: 'created' },
    });
    assert.equal(lines.length, 7);
    assert.match(lines[2]!, /^seed: client service-introspector +created +secret in .*service-introspector\.secret$/);
    for (const client of Object.keys(first.clients)) {
      assert.equal(statSync(secretFile(credentialsDir, client)).mode & 0o777, 0o600, client);
      assert.equal(lines.some((line) => line.includes(secretOf(client))), false, 'no secret is printed');
    }
    const stored = (await adminRequest(idp, 'GET', `/resource-servers/${encodeURIComponent(BILLING)}`)).body;
    assert.deepEqual({ ...stored, created_at: 0 }, { identifier: BILLING, scopes: ['billing.read'], access_token_format: 'jwt', access_token_ttl: null, managed_by: 'seed', created_at: 0 });
    assert.equal((await adminRequest(idp, 'GET', '/clients/billing-introspector')).body.managed_by, 'seed');

    const before = await state();
    const second = await apply(file);
    assert.deepEqual(second, {
      resourceServers: { 'http://localhost:4001': 'unchanged', [BILLING]: 'unchanged' },
      clients: { 'service-introspector': 'unchanged', 'solutrix-api': 'unchanged', 'billing-worker': 'unchanged', 'billing-introspector': 'unchanged' },
      users: { carol: 'unchanged' },
    });
    assert.deepEqual(await state(), before, 'nothing at the IDP or in the credentials changed');
  });

  test('the seeded objects work: billing-worker gets a JWT for billing-api, the Service API introspector reads only its own tokens', async () => {
    const billing = await tokenFor('billing-worker', 'billing.read');
    assert.equal(billing.status, 200);
    assert.equal((billing.body.access_token as string).split('.').length, 3, 'billing-api takes JWTs');
    const machine = await tokenFor('solutrix-api', 'service.api');
    const introspect = (caller: string, token: string) =>
      postForm(`${idp.issuer}/introspect`, { client_id: caller, client_secret: secretOf(caller) }, { token });
    assert.equal((await introspect('service-introspector', machine.body.access_token as string)).body.active, true);
    assert.deepEqual((await introspect('billing-introspector', machine.body.access_token as string)).body, { active: false });
  });

  test('a changed declaration is updated in place: same secret, new scopes and lifetime in force', async () => {
    const secret = secretOf('billing-worker');
    const changed = base();
    changed.resource_servers[1] = { identifier: BILLING, scopes: ['billing.read', 'billing.export'], access_token_format: 'jwt', access_token_ttl: 120 };
    changed.clients[2] = { name: 'billing-worker', grant_types: ['client_credentials'], scopes: ['billing.read', 'billing.export'] };
    const result = await apply(write(changed));
    assert.equal(result.resourceServers[BILLING], 'updated');
    assert.equal(result.clients['billing-worker'], 'updated');
    assert.equal(result.clients['solutrix-api'], 'unchanged');
    assert.equal(secretOf('billing-worker'), secret, 'the secret did not change');
    const issued = await tokenFor('billing-worker', 'billing.export');
    assert.deepEqual([issued.status, issued.body.scope, issued.body.expires_in], [200, 'billing.export', 120]);
  });

  test('a lost secret file is replaced by a rotated secret; the old secret stops working', async () => {
    const old = secretOf('solutrix-api');
    rmSync(secretFile(credentialsDir, 'solutrix-api'));
    const result = await apply(write(base()));
    assert.equal(result.clients['solutrix-api'], 'rotated');
    assert.notEqual(secretOf('solutrix-api'), old);
    assert.equal((await tokenFor('solutrix-api', 'service.api')).status, 200);
    const stale = await postForm(`${idp.issuer}/token`, { client_id: 'solutrix-api', client_secret: old }, { grant_type: 'client_credentials' });
    assert.equal(stale.status, 401);
  });

  test('--prune deletes only the seed-created objects the file no longer lists; without it they stay', async () => {
    // Created by hand: never pruned.
    assert.equal((await adminRequest(idp, 'POST', '/resource-servers', { identifier: 'http://localhost:4005', scopes: ['hand.made'] })).status, 201);
    assert.equal((await adminRequest(idp, 'POST', '/clients', { name: 'hand-made', scopes: ['hand.made'] })).status, 201);
    const smaller = base();
    smaller.resource_servers.splice(1, 1);
    smaller.clients.splice(2, 2);
    const kept = await apply(write(smaller));
    assert.equal(kept.clients['billing-worker'], undefined);
    assert.equal((await adminRequest(idp, 'GET', '/clients/billing-worker')).status, 200, 'not pruned without --prune');

    const pruned = await apply(write(smaller), { prune: true });
    assert.deepEqual([pruned.clients['billing-worker'], pruned.clients['billing-introspector'], pruned.resourceServers[BILLING]], ['pruned', 'pruned', 'pruned']);
    assert.equal((await adminRequest(idp, 'GET', '/clients/billing-worker')).status, 404);
    assert.equal((await adminRequest(idp, 'GET', `/resource-servers/${encodeURIComponent(BILLING)}`)).status, 404);
    assert.throws(() => secretOf('billing-worker'), /ENOENT/, 'its secret file is removed');
    assert.equal((await adminRequest(idp, 'GET', '/clients/hand-made')).status, 200, 'a client created by hand stays');
    assert.equal((await adminRequest(idp, 'GET', `/resource-servers/${encodeURIComponent('http://localhost:4005')}`)).status, 200, 'a resource server created by hand stays');
    assert.equal(pruned.clients['solutrix-api'], 'unchanged');
    // A client of the file may use a hand-made resource server's scope.
    const usesHandMade = base();
    usesHandMade.clients.push({ name: 'hand-user', grant_types: ['client_credentials'], scopes: ['hand.made'] });
    assert.equal((await apply(write(usesHandMade))).clients['hand-user'], 'created');
  });
});

describe('a bad seed file', () => {
  const cases: [string, (f: File) => File | string, string[]][] = [
    ['not JSON', () => '{"clients": [', ['(file): not valid JSON']],
    ['an unknown field', (f) => ({ ...f, client: [] }), ['(top level): unknown field "client"']],
    ['a missing required field and a wrong enum', (f) => {
      f.clients[1] = { name: 'solutrix-api', scopes: [] };
      f.resource_servers[1] = { ...f.resource_servers[1], access_token_format: 'paseto' };
      return f;
    }, ['resource_servers[1].access_token_format: must be one of "opaque", "jwt"', 'clients[1]: "grant_types" is required']],
    ['a scope no resource server declares', (f) => {
      f.clients.push({ name: 'typo', grant_types: ['client_credentials'], scopes: ['billing.read', 'billing.write'] });
      return f;
    }, ['clients[4].scopes[1]: "billing.write" is not declared by any resource server']],
    ['an introspector of an undeclared resource server', (f) => {
      f.clients[3] = { name: 'billing-introspector', grant_types: ['client_credentials'], introspects: ['http://localhost:4999'] };
      return f;
    }, ['clients[3].introspects[0]: "http://localhost:4999" is not a declared resource server']],
    ['duplicates', (f) => {
      f.clients.push({ ...f.clients[0] });
      f.resource_servers.push({ identifier: BILLING, scopes: ['billing.other'] });
      f.users!.push({ username: 'carol', password: 'x' });
      return f;
    }, [`resource_servers[2].identifier: "${BILLING}" is declared twice (also resource_servers[1])`, 'clients[4].name: "service-introspector" is declared twice (also clients[0])', 'users[1].username: "carol" is declared twice (also users[0])']],
    ['a scope declared by two resource servers, and an OIDC scope', (f) => {
      f.resource_servers.push({ identifier: 'http://localhost:4006', scopes: ['billing.read', 'email'] });
      return f;
    }, ['resource_servers[2].scopes[0]: "billing.read" is already declared by resource_servers[1]', 'resource_servers[2].scopes[1]: "email" is an OpenID Connect scope of the IDP itself']],
    ["a scope of the IDP's built-in SSF resource server", (f) => {
      f.resource_servers.push({ identifier: 'http://localhost:4008', scopes: ['ssf.manage'] });
      return f;
    }, ['resource_servers[2].scopes[0]: "ssf.manage" belongs to a resource server built into the IDP']],
    ['a scope a hand-made resource server owns at the IDP', (f) => {
      f.resource_servers.push({ identifier: 'http://localhost:4007', scopes: ['hand.made'] });
      return f;
    }, ['resource_servers[2].scopes[0]: "hand.made" is already declared by resource server http://localhost:4005 at the IDP']],
    ['bad URIs and a code client without redirect URIs', (f) => {
      f.resource_servers[1] = { identifier: 'billing-api', scopes: ['billing.read'] };
      f.clients.push({ name: 'web', grant_types: ['authorization_code'], scopes: ['openid'], post_logout_redirect_uris: ['/logged-out'] });
      return f;
    }, [
      'resource_servers[1].identifier: "billing-api" is not an absolute URI without a fragment',
      // billing-api (http://localhost:4002) is still at the IDP from the runs above: its scope is taken.
      'resource_servers[1].scopes[0]: "billing.read" is already declared by resource server http://localhost:4002 at the IDP',
      'clients[4].post_logout_redirect_uris[0]: "/logged-out" is not an absolute http(s) URL without a fragment',
      'clients[4].redirect_uris: at least one is required with the authorization_code grant',
    ]],
    ['an unset variable without a default', (f) => {
      f.resource_servers[1] = { identifier: '${BILLING_API_URL}', scopes: ['billing.read'] };
      return f;
    }, [
      'resource_servers[1].identifier: ${BILLING_API_URL} is not set and has no default',
      'resource_servers[1].identifier: "" is not an absolute URI without a fragment',
      'resource_servers[1].scopes[0]: "billing.read" is already declared by resource server http://localhost:4002 at the IDP',
    ]],
  ];
  for (const [label, edit, problems] of cases) {
    test(`${label}: every problem by JSON path, and nothing is applied`, async () => {
      const before = await state();
      const file = write(edit(base()));
      const err = await apply(file).then(
        () => assert.fail('the seed accepted a bad file'),
        (e: unknown) => e,
      );
      assert.ok(err instanceof SeedFileError, String(err));
      if (label === 'not JSON') assert.match(err.problems[0]!, /^\(file\): not valid JSON/);
      else assert.deepEqual(err.problems, problems);
      assert.deepEqual(await state(), before, 'nothing at the IDP or in the credentials changed');
    });
  }

  test('`npm run seed` with a bad file exits 1 and lists the problems on stderr', async () => {
    const f = base();
    f.clients.push({ name: 'typo', grant_types: ['client_credentials'], scopes: ['billing.write'] });
    const file = write(f);
    const env = { ...process.env, IDP_BASE: idp.origin, IDP_ADMIN_TOKEN: idp.adminToken, SEED_FILE: file, SEED_CREDENTIALS_DIR: credentialsDir };
    const failed = await run(process.execPath, ['--import', 'tsx', 'scripts/seed.ts'], { env }).then(
      () => assert.fail('exit 0'),
      (e: { code: number; stderr: string }) => e,
    );
    assert.equal(failed.code, 1);
    assert.match(failed.stderr, /is not a valid seed file:\n {2}clients\[4\]\.scopes\[0\]: "billing\.write" is not declared by any resource server\n/);
  });
});

test("the stack's seed file is valid, declares the Service API and its introspector (a Shared Signals receiver: ssf.manage), and takes passwords from SEED_<USERNAME>_PASSWORD", () => {
  const declared = readSeedFile(DEFAULT_SEED_FILE, { SERVICE_API_AUDIENCE: 'http://localhost:14001', SEED_ALICE_PASSWORD: 'from-env' });
  assert.deepEqual(declared.resource_servers, [{ identifier: 'http://localhost:14001', scopes: ['service.api'] }]);
  assert.deepEqual(declared.clients.map((c) => c.name), ['service-introspector', 'solutrix-api', 'solutrix-web']);
  assert.deepEqual(declared.clients[0]!.introspects, ['http://localhost:14001']);
  assert.deepEqual(declared.clients[0]!.scopes, ['ssf.manage'], 'a built-in scope of the IDP, declared by no seed resource server');
  assert.deepEqual(declared.clients[2]!.redirect_uris, ['http://localhost:3000/callback']);
  assert.deepEqual(declared.users.map((u) => [u.username, u.password]), [['alice', 'from-env'], ['bob', 'bob-local-only']]);
});
