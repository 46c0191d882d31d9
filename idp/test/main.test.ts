// What main.ts promises across restarts: a restarted process (SIGTERM or SIGKILL) finds everything
// in its data dir, and a SIGTERM shut-down is clean.
import assert from 'node:assert/strict';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { adminRequest, clientCredentialsToken, registerClient, startIdp, type RegisteredClient, type TestIdp } from '../../test/support/idp.ts';
import { introspect } from './helpers.ts';

const mode = (file: string) => statSync(file).mode & 0o777;
const kids = async (idp: TestIdp) => ((await (await fetch(`${idp.issuer}/jwks.json`)).json()) as { keys: { kid: string }[] }).keys.map((k) => k.kid);

describe('state survives restarts', () => {
  let idp: TestIdp;
  let introspector: RegisteredClient;
  let client: RegisteredClient;
  let token: string;
  let kid: string[];

  before(async () => {
    idp = await startIdp();
    introspector = await registerClient(idp, 'service-introspector');
    client = await registerClient(idp, 'solutrix-api', ['service.api']);
    token = await clientCredentialsToken(idp, client, 'service.api');
    kid = await kids(idp);
  });
  after(() => idp?.stop());


  for (const signal of ['SIGTERM', 'SIGKILL'] as const) {
    test(`after a restart by ${signal} the token, the client, the admin token and the signing key are unchanged`, async () => {
      const firstPid = idp.child.pid;
      idp = await idp.restart(signal);
      assert.notEqual(idp.child.pid, firstPid, 'a new process');
      assert.deepEqual(await kids(idp), kid);
      const seen = await introspect(idp, introspector, token);
      assert.equal(seen.status, 200);
      assert.equal(seen.body.active, true);
      assert.equal(seen.body.client_id, 'solutrix-api');
      assert.equal(seen.body.scope, 'service.api');
      assert.equal(typeof (await clientCredentialsToken(idp, client, 'service.api')), 'string', 'the client still authenticates');
      const clients = await adminRequest(idp, 'GET', '/clients');
      assert.equal(clients.status, 200, 'the admin token still works');
      assert.deepEqual(clients.body.clients.map((c: { client_id: string }) => c.client_id), ['service-introspector', 'solutrix-api']);
      assert.equal(mode(join(idp.dataDir, 'jwks.json')), 0o600);
    });
  }

  test('a shut-down by SIGTERM is logged and exits cleanly', async () => {
    const child = idp.child;
    await idp.stop('SIGTERM');
    assert.equal(child.exitCode, 0);
    assert.match(idp.output(), /"signal":"SIGTERM".*"msg":"shutting down"/);
    idp = await idp.restart();
  });
});
