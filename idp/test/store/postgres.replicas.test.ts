// Two IDP processes over one PostgreSQL database, as replicas behind a load balancer would run:
// whatever one replica stored or issued, the other must honour. Both share one issuer (replica A's
// URL) and one admin token; each has its own, empty data dir.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { createLocalJWKSet, jwtVerify, type JSONWebKeySet } from 'jose';
import { adminRequest, clientCredentialsToken, registerClient, startIdp, type RegisteredClient, type TestIdp } from '../../../test/support/idp.ts';
import { startPostgres, type TestPostgres } from '../../../test/support/postgres.ts';
import { freePort } from '../../../test/support/process.ts';
import { basic } from '../../../test/support/idp.ts';
import { call, introspect, oauth } from '../helpers.ts';

let server: TestPostgres;
let databaseUrl: string;
let issuer: string;
let a: TestIdp;
let b: TestIdp;
let introspector: RegisteredClient;
const adminToken = randomBytes(24).toString('base64url');
const startupMs: Record<string, number> = {};

/** Replica `r`'s own endpoints (the helpers address `issuer`, which is replica A's URL). */
const at = (r: TestIdp) => ({ issuer: `${r.origin}/oauth` });
const replica = (port: number, extraEnv: Record<string, string> = {}) =>
  startIdp({ port, issuer, env: { IDP_DATABASE_URL: databaseUrl, IDP_ADMIN_TOKEN: adminToken, ...extraEnv } });
const jwks = async (r: TestIdp) => (await call(`${r.origin}/oauth/jwks.json`)).body as JSONWebKeySet;

before(async () => {
  let started = performance.now();
  server = await startPostgres();
  databaseUrl = await server.createDatabase('replicas');
  startupMs.postgres = Math.round(performance.now() - started);
  const [portA, portB] = [await freePort(), await freePort()];
  issuer = `http://127.0.0.1:${portA}/oauth`;
  // Both at the same moment on an empty database: they race to migrate it and to create the keys.
  started = performance.now();
  [a, b] = await Promise.all([replica(portA), replica(portB)]);
  startupMs.replicas = Math.round(performance.now() - started);
  introspector = await registerClient(a, 'service-introspector');
});
after(async () => {
  await Promise.all([a?.stop(), b?.stop()]);
  await server?.stop();
  console.log(`# setup: postgres ${startupMs.postgres} ms, two replicas ${startupMs.replicas} ms`);
});

describe('two replicas over one PostgreSQL database', () => {
  test('two replicas started at the same moment on an empty database both come up', async () => {
    for (const r of [a, b]) assert.deepEqual((await call(`${r.origin}/healthz`)).body, { status: 'ok' });
    assert.match(a.output(), /"store":"postgres"/);
  });

  test('both replicas publish the same JWKS, with no private parts', async () => {
    const [fromA, fromB] = [await jwks(a), await jwks(b)];
    assert.deepEqual(fromA, fromB);
    assert.equal(fromA.keys.length, 1);
    assert.equal('d' in fromA.keys[0]!, false);
  });

  test('both replicas answer discovery as the one shared issuer', async () => {
    for (const r of [a, b]) {
      const { body } = await call(`${r.origin}/oauth/.well-known/openid-configuration`);
      assert.equal(body.issuer, issuer);
      assert.equal(body.token_endpoint, `${issuer}/token`);
    }
  });

  test('a client registered at replica A authenticates at replica B', async () => {
    const client = await registerClient(a, 'registered-at-a', ['service.api']);
    const res = await oauth(at(b), '/token', client, { grant_type: 'client_credentials', scope: 'service.api' });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.equal(res.body.scope, 'service.api');
    const listed = await adminRequest(b, 'GET', '/clients');
    assert.ok(listed.body.clients.some((c: { client_id: string }) => c.client_id === 'registered-at-a'), 'B lists it');
  });

  test('a token issued by replica A introspects active at replica B', async () => {
    const client = await registerClient(a, 'issued-at-a', ['service.api']);
    const token = await clientCredentialsToken(a, client, 'service.api');
    const res = await introspect(at(b), introspector, token);
    assert.equal(res.status, 200);
    assert.equal(res.body.active, true);
    assert.equal(res.body.client_id, 'issued-at-a');
    assert.equal(res.body.iss, issuer);
  });

  test('a token revoked at replica B is inactive at replica A', async () => {
    const client = await registerClient(b, 'revoked-at-b', ['service.api']);
    const token = await clientCredentialsToken(a, client, 'service.api');
    assert.equal((await introspect(at(a), introspector, token)).body.active, true);
    const revoked = await oauth(at(b), '/revoke', client, { token });
    assert.equal(revoked.status, 200);
    assert.deepEqual((await introspect(at(a), introspector, token)).body, { active: false });
  });

  test('a client deleted at replica B can no longer authenticate at replica A, and its tokens are inactive there', async () => {
    const client = await registerClient(a, 'deleted-at-b', ['service.api']);
    const token = await clientCredentialsToken(a, client, 'service.api');
    assert.equal((await adminRequest(b, 'DELETE', '/clients/deleted-at-b')).status, 204);
    assert.equal((await oauth(at(a), '/token', client, { grant_type: 'client_credentials' })).status, 401);
    assert.deepEqual((await introspect(at(a), introspector, token)).body, { active: false });
  });

  test('an end-user login started at replica A is finished at replica B', async () => {
    const redirectUri = 'http://127.0.0.1:9/callback';
    const registered = await adminRequest(a, 'POST', '/clients', {
      name: 'solutrix-web', // first party: consent is granted without a page
      redirect_uris: [redirectUri],
      grant_types: ['authorization_code', 'refresh_token'],
      scopes: ['openid', 'profile'],
    });
    assert.equal(registered.status, 201);
    const web = registered.body as RegisteredClient;
    const user = await adminRequest(b, 'POST', '/users', { username: 'carol', password: 'correct horse battery', name: 'Carol' });
    assert.equal(user.status, 201);

    const jar = new CookieJar();
    const verifier = randomBytes(32).toString('base64url');
    const state = randomBytes(8).toString('base64url');
    const authorize = new URL(`${a.origin}/oauth/auth`);
    authorize.search = new URLSearchParams({
      client_id: 'solutrix-web',
      response_type: 'code',
      redirect_uri: redirectUri,
      scope: 'openid profile',
      state,
      code_challenge: createHash('sha256').update(verifier).digest('base64url'),
      code_challenge_method: 'S256',
    }).toString();

    // At A: the authorization request and the login page.
    let res = await jar.fetch(authorize.href);
    assert.equal(res.status, 303);
    const interaction = new URL(res.headers.get('location')!, issuer);
    const uid = /^\/interaction\/([\w-]+)$/.exec(interaction.pathname)?.[1];
    assert.ok(uid, interaction.href);
    res = await jar.fetch(`${a.origin}${interaction.pathname}`);
    assert.equal(res.status, 200);
    assert.match(await res.text(), /<form[^>]+action="\/interaction\/[\w-]+\/login"/);

    // At B: the login form is posted, every redirect followed, the code exchanged.
    res = await jar.fetch(`${b.origin}/interaction/${uid}/login`, {
      method: 'POST',
      headers: { origin: new URL(issuer).origin, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ username: 'carol', password: 'correct horse battery' }),
    });
    for (let hops = 0; res.status === 303 || res.status === 302; hops++) {
      assert.ok(hops < 10, 'too many redirects');
      const next = new URL(res.headers.get('location')!, issuer);
      if (next.href.startsWith(redirectUri)) break;
      res = await jar.fetch(`${b.origin}${next.pathname}${next.search}`);
    }
    const callback = new URL(res.headers.get('location') ?? 'about:blank', issuer);
    assert.ok(callback.href.startsWith(redirectUri), `ended at ${res.status} ${callback.href}: ${await res.text()}`);
    assert.equal(callback.searchParams.get('state'), state);
    assert.equal(callback.searchParams.get('iss'), issuer);
    const code = callback.searchParams.get('code');
    assert.ok(code, callback.href);

    const tokens = await call(`${b.origin}/oauth/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic('solutrix-web', web.client_secret) },
      body: new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: redirectUri, code_verifier: verifier }),
    });
    assert.equal(tokens.status, 200, JSON.stringify(tokens.body));
    // The ID token B signed verifies with the keys A publishes.
    const { payload } = await jwtVerify(tokens.body.id_token, createLocalJWKSet(await jwks(a)), { issuer, audience: 'solutrix-web' });
    assert.equal(payload.sub, user.body.sub);
    const seen = await introspect(at(a), web, tokens.body.access_token);
    assert.equal(seen.body.active, true);
    assert.equal(seen.body.sub, user.body.sub);
  });

  test('a third replica started later joins with the same keys and the same clients', async () => {
    const c = await replica(await freePort());
    try {
      assert.deepEqual(await jwks(c), await jwks(a));
      const listed = await adminRequest(c, 'GET', '/clients');
      assert.equal(listed.status, 200);
      assert.ok(listed.body.clients.some((x: { client_id: string }) => x.client_id === 'service-introspector'));
    } finally {
      await c.stop();
    }
  });

  test('with IDP_DATABASE_URL but no IDP_ADMIN_TOKEN a replica refuses to start and says why', async () => {
    await assert.rejects(
      replica(await freePort(), { IDP_ADMIN_TOKEN: '' }),
      /IDP_ADMIN_TOKEN or IDP_ADMIN_TOKEN_FILE must be set when IDP_DATABASE_URL is set/,
    );
  });
});

/** The IDP's cookies are host-only and path-scoped; one jar shared by both replicas, sent everywhere. */
class CookieJar {
  private readonly cookies = new Map<string, string>();

  async fetch(url: string, init: RequestInit = {}): Promise<Response> {
    const headers = new Headers(init.headers);
    if (this.cookies.size) headers.set('cookie', [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; '));
    const res = await fetch(url, { ...init, headers, redirect: 'manual' });
    for (const line of res.headers.getSetCookie()) {
      const [pair = '', ...attributes] = line.split(';');
      const eq = pair.indexOf('=');
      const name = pair.slice(0, eq).trim();
      const value = pair.slice(eq + 1).trim();
      const expires = attributes.map((a) => a.trim()).find((a) => /^expires=/i.test(a));
      if (!value || (expires && Date.parse(expires.slice(8)) < Date.now())) this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
    return res;
  }
}
