import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { adminRequest, basic, clientCredentialsToken, postForm, registerClient, type RegisteredClient } from '../support/idp.ts';
import { codeFlow, leaks, startStack, type Stack } from './stack.ts';
import { sleep } from '../support/wait.ts';

// The Service API runs with INTROSPECTION_CACHE_MAX_TTL=1: a revoked token or a deleted client's token
// may keep working for at most 1 s, and must be refused after it.
const CACHE_BOUND_MS = 1000;
const REDIRECT_URI = 'http://127.0.0.1:9/callback'; // never fetched: the flow stops at the redirect
const user = { username: 'carol', password: `carol-${randomBytes(12).toString('base64url')}` };

let stack: Stack;
const tokens: string[] = [];

const whoami = async (token: string) => {
  const res = await fetch(`${stack.serviceApi.origin}/v1/whoami`, { headers: { authorization: `Bearer ${token}` } });
  return { status: res.status, challenge: res.headers.get('www-authenticate'), body: (await res.json()) as Record<string, unknown> };
};

async function webClient(name: string): Promise<RegisteredClient> {
  const client = await registerClient(stack.idp, name, ['openid', 'service.api', 'offline_access'], {
    redirect_uris: [REDIRECT_URI],
    grant_types: ['authorization_code', 'refresh_token'],
  });
  stack.secrets.push(client.client_secret);
  return client;
}

async function userToken(client: RegisteredClient): Promise<string> {
  const { tokens: answer } = await codeFlow(stack.idp, client, REDIRECT_URI, user);
  const token = answer.access_token as string;
  tokens.push(token);
  if (typeof answer.refresh_token === 'string') tokens.push(answer.refresh_token);
  return token;
}

/** RFC 7009: 200 with an empty body. */
async function revoke(client: RegisteredClient, token: string): Promise<number> {
  const res = await fetch(`${stack.idp.issuer}/revoke`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic(client.client_id, client.client_secret) },
    body: new URLSearchParams({ token }),
  });
  assert.equal(await res.text(), '');
  return res.status;
}

async function machineToken(client: RegisteredClient): Promise<string> {
  const token = await clientCredentialsToken(stack.idp, client, 'service.api');
  tokens.push(token);
  return token;
}

/** After the cache bound (plus a margin for a loaded machine), the token is refused. */
async function assertRefusedAfterBound(token: string, since: number) {
  await sleep(Math.max(0, since + CACHE_BOUND_MS + 200 - Date.now()));
  const res = await whoami(token);
  assert.equal(res.status, 401);
  assert.equal(res.body.error, 'invalid_token');
  assert.match(res.challenge ?? '', /^Bearer realm="service-api", error="invalid_token"/);
}

before(async () => {
  stack = await startStack({
    idpEnv: { IDP_FIRST_PARTY_CLIENTS: 'web-app,doomed-web' },
    serviceEnv: { INTROSPECTION_CACHE_MAX_TTL: '1' },
  });
  assert.equal((await adminRequest(stack.idp, 'POST', '/users', user)).status, 201);
});
after(() => stack?.stop());

describe('revocation (/oauth/revoke)', () => {
  test('a revoked client_credentials token is refused by the Service API within the cache bound', async () => {
    const loader = await registerClient(stack.idp, 'loader', ['service.api']);
    stack.secrets.push(loader.client_secret);
    const token = await machineToken(loader);
    assert.equal((await whoami(token)).status, 200);
    const revoked = Date.now();
    assert.equal(await revoke(loader, token), 200);
    await assertRefusedAfterBound(token, revoked);
    assert.deepEqual((await postForm(`${stack.idp.issuer}/introspect`, stack.introspector, { token })).body, { active: false });
  });

  test("a revoked end user's access token is refused within the cache bound; a new one works", async () => {
    const web = await webClient('web-app');
    const token = await userToken(web);
    const before = await whoami(token);
    assert.equal(before.status, 200);
    assert.equal(before.body.kind, 'user');
    const revoked = Date.now();
    assert.equal(await revoke(web, token), 200);
    await assertRefusedAfterBound(token, revoked);
    assert.equal((await whoami(await userToken(web))).status, 200);
  });
});

describe('client deletion (admin DELETE)', () => {
  test("a deleted client's machine and user tokens introspect active:false (not 500) and are refused within the cache bound", async () => {
    const doomed = await registerClient(stack.idp, 'doomed', ['service.api']);
    stack.secrets.push(doomed.client_secret);
    const doomedWeb = await webClient('doomed-web');
    const machine = await machineToken(doomed);
    const person = await userToken(doomedWeb);
    assert.equal((await whoami(machine)).status, 200);
    assert.equal((await whoami(person)).status, 200);

    const deleted = Date.now();
    assert.equal((await adminRequest(stack.idp, 'DELETE', '/clients/doomed')).status, 204);
    assert.equal((await adminRequest(stack.idp, 'DELETE', '/clients/doomed-web')).status, 204);
    for (const token of [machine, person]) {
      const res = await postForm(`${stack.idp.issuer}/introspect`, stack.introspector, { token });
      assert.equal(res.status, 200);
      assert.deepEqual(res.body, { active: false });
    }
    await assertRefusedAfterBound(machine, deleted);
    await assertRefusedAfterBound(person, deleted);
    // The deleted client cannot authenticate any more, to introspect or to get tokens.
    const self = await postForm(`${stack.idp.issuer}/introspect`, doomed, { token: machine });
    assert.equal(self.status, 401);
    assert.equal(self.body.error, 'invalid_client');
  });
});

test('no process printed a client secret, the admin token, a password or a token', () => {
  const outputs = stack.processes.map((p, i) => ({ name: `process ${i}`, text: p.output() }));
  assert.ok(tokens.length >= 5);
  const needles = [
    ...stack.secrets.map((value) => ({ kind: 'client secret', value })),
    { kind: 'admin token', value: stack.idp.adminToken },
    { kind: 'password', value: user.password },
    ...tokens.map((value) => ({ kind: 'token', value })),
  ];
  assert.deepEqual(leaks(outputs, needles), []);
});
