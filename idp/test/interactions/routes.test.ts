// The login and consent routes, against the IDP app in this process (so that its database server can
// be stopped under it) over real HTTP on a free port.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { pino } from 'pino';
import { close, listen } from '../../../lib/server.ts';
import { TestBrowser } from '../../../test/support/browser.ts';
import { adminRequest } from '../../../test/support/idp.ts';
import { startPostgres, type TestPostgres } from '../../../test/support/postgres.ts';
import { createApp } from '../../src/app.ts';
import { loadConfig } from '../../src/config.ts';
import { loadSecrets, loadSharedSecrets } from '../../src/keys.ts';
import { openStore } from '../../src/store/index.ts';
import type { Store } from '../../src/store/types.ts';

const REDIRECT_URI = 'http://127.0.0.1:9/callback';
const EXPIRED = { error: 'invalid_request', error_description: 'this sign-in attempt has expired or is unknown; start again from the application' };

type InProcessIdp = { origin: string; store: Store; logged(): string; stop(): Promise<void> };

/** The IDP app in this process on a free port, with a web client and a user; SQLite unless given a database. */
async function startInProcess(databaseUrl?: string): Promise<InProcessIdp> {
  let handler: Parameters<typeof createServer>[1] = () => {};
  const server = createServer((req, res) => handler!(req, res));
  const port = await listen(server, 0, '127.0.0.1');
  const origin = `http://127.0.0.1:${port}`;
  const dataDir = mkdtempSync(join(tmpdir(), 'idp-interactions-'));
  const env = { PORT: String(port), IDP_ISSUER: `${origin}/oauth`, IDP_DATA_DIR: dataDir, IDP_ADMIN_TOKEN: adminToken, ...(databaseUrl ? { IDP_DATABASE_URL: databaseUrl } : {}) };
  const config = loadConfig(env);
  let logged = '';
  const log = pino({ level: 'warn' }, { write: (line: string) => (logged += line) });
  const store = await openStore(config, { onError: (err) => log.warn({ err }, 'idle database connection failed') });
  const secrets = store.settings ? await loadSharedSecrets(store.settings, adminToken) : await loadSecrets(dataDir, { adminToken });
  handler = createApp(config, secrets, store, log).app.callback();
  const idp = { origin, adminToken };
  const client = await adminRequest(idp, 'POST', '/clients', { name: 'web', grant_types: ['authorization_code'], redirect_uris: [REDIRECT_URI], scopes: ['openid'] });
  assert.equal(client.status, 201, JSON.stringify(client.body));
  assert.equal((await adminRequest(idp, 'POST', '/users', { username: 'dana', password: 'dana-test-password' })).status, 201);
  return {
    origin,
    store,
    logged: () => logged,
    async stop() {
      await close(server);
      await store.close();
    },
  };
}

const adminToken = randomBytes(24).toString('base64url');
let idp: InProcessIdp;
let origin: string;
before(async () => {
  idp = await startInProcess();
  origin = idp.origin;
});
after(() => idp?.stop());

/** A browser at the start of a sign-in: it holds the interaction cookie; `uid` is in the page's URL. */
async function startSignIn(at = idp): Promise<{ browser: TestBrowser; uid: string; page: string }> {
  const { origin } = at;
  const browser = new TestBrowser();
  const authorize = new URL(`${origin}/oauth/auth`);
  authorize.search = new URLSearchParams({
    client_id: 'web',
    response_type: 'code',
    redirect_uri: REDIRECT_URI,
    scope: 'openid',
    code_challenge: createHash('sha256').update(randomBytes(32)).digest('base64url'),
    code_challenge_method: 'S256',
  }).toString();
  const redirect = await browser.request(authorize.href);
  assert.equal(redirect.status, 303, redirect.body);
  const page = new URL(redirect.headers.get('location')!, origin).href;
  const uid = /^\/interaction\/([\w-]+)$/.exec(new URL(page).pathname)?.[1];
  assert.ok(uid, page);
  return { browser, uid, page };
}

const form = { username: 'dana', password: 'dana-test-password' };
const json = (body: string) => JSON.parse(body) as unknown;

describe('interaction routes', () => {
  test('GET /interaction/:uid is the login page; a same-origin login continues the authorization at oidc-provider', async () => {
    const { browser, uid, page } = await startSignIn();
    const shown = await browser.request(page);
    assert.equal(shown.status, 200);
    assert.match(shown.body, new RegExp(`<form method="post" action="/interaction/${uid}/login"`));
    const login = await browser.request(`${page}/login`, { form, headers: { origin } });
    assert.equal(login.status, 303, login.body);
    assert.equal(login.headers.get('location'), `${origin}/oauth/auth/${uid}`);
  });

  test('a form posted from another site is 403 and the sign-in can still go on', async () => {
    const { browser, page } = await startSignIn();
    for (const headers of [{ origin: 'http://evil.example' }, { 'sec-fetch-site': 'cross-site' }, { 'sec-fetch-site': 'same-site' }] as Record<string, string>[]) {
      for (const action of ['login', 'confirm', 'abort']) {
        const res = await browser.request(`${page}/${action}`, { form, headers });
        assert.equal(res.status, 403, `${action} ${JSON.stringify(headers)}`);
        assert.deepEqual(json(res.body), { error: 'invalid_request', error_description: 'cross-site form submissions are refused' });
      }
    }
    assert.equal((await browser.request(page)).status, 200, 'the interaction is untouched');
    assert.equal((await browser.request(`${page}/login`, { form, headers: { origin } })).status, 303);
  });

  test('wrong methods are 405 with Allow', async () => {
    const { browser, page } = await startSignIn();
    for (const [method, path, allow] of [['POST', '', 'GET'], ['DELETE', '', 'GET'], ['GET', '/login', 'POST'], ['PUT', '/confirm', 'POST'], ['GET', '/abort', 'POST']] as const) {
      const res = await browser.request(`${page}${path}`, { method, headers: { origin } });
      assert.equal(res.status, 405, `${method} ${path}`);
      assert.equal(res.headers.get('allow'), allow);
      assert.deepEqual(json(res.body), { error: 'invalid_request', error_description: `method not allowed; allowed: ${allow}` });
    }
  });

  test('without its cookie, or under another uid, the sign-in has expired: 400', async () => {
    const { browser, page } = await startSignIn();
    const other = await startSignIn();
    const cases = [
      await new TestBrowser().request(page),
      await new TestBrowser().request(`${page}/login`, { form, headers: { origin } }),
      await browser.request(other.page),
      await browser.request(`${other.page}/abort`, { form: {}, headers: { origin } }),
    ];
    for (const res of cases) {
      assert.equal(res.status, 400);
      assert.deepEqual(json(res.body), EXPIRED);
    }
  });

  test('a path that cannot name an interaction is 404', async () => {
    for (const path of ['/interaction/a.b', `/interaction/${'a'.repeat(65)}`, '/interaction/abc/login/x', '/interaction/']) {
      const res = await new TestBrowser().request(`${origin}${path}`);
      assert.equal(res.status, 404, path);
      assert.deepEqual(json(res.body), { error: 'not_found', error_description: `no route GET ${path}` });
    }
  });

  test('a login body over 64 kB is 400 invalid_request', async () => {
    const { browser, page } = await startSignIn();
    const res = await browser.request(`${page}/login`, { form: { ...form, padding: 'x'.repeat(64 * 1024) }, headers: { origin } });
    assert.equal(res.status, 400);
    assert.deepEqual(json(res.body), { error: 'invalid_request', error_description: 'body must not exceed 65536 bytes' });
  });
});

describe('interaction routes during a store outage', () => {
  let postgres: TestPostgres;
  let outage: InProcessIdp;
  before(async () => {
    postgres = await startPostgres();
    outage = await startInProcess(await postgres.createDatabase('interactions'));
  });
  after(async () => {
    await outage?.stop().catch(() => {}); // its database server is gone: closing its pool may fail
    await postgres?.stop();
  });

  test('a store failure during an interaction is a 500 server_error, not an expired sign-in', async () => {
    const { browser, page } = await startSignIn(outage);
    assert.equal((await browser.request(page)).status, 200, 'the interaction works while the store does');
    await postgres.stop();
    for (const res of [await browser.request(page), await browser.request(`${page}/login`, { form, headers: { origin: outage.origin } })]) {
      assert.equal(res.status, 500, res.body);
      assert.deepEqual(json(res.body), { error: 'server_error' });
    }
    assert.match(outage.logged(), /unexpected error/, 'the failure is logged');
  });
});
