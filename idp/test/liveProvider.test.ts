// A key change swaps oidc-provider between requests (liveProvider.ts): a request in flight finishes on
// the provider it started on, the next one runs on the new one. The IDP app in this process over its
// SQLite store, with a keyring whose source the test controls and a Client lookup the test can hold.
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify, type JSONWebKeySet } from 'jose';
import { pino } from 'pino';
import { close, listen } from '../../lib/server.ts';
import { basic, declareResourceServer, registerClient, type RegisteredClient } from '../../test/support/idp.ts';
import { createApp } from '../src/app.ts';
import { loadConfig } from '../src/config.ts';
import { watchKeys, type Jwks, type Keyring } from '../src/keyring.ts';
import { loadSecrets, newSigningKey } from '../src/keys.ts';
import { openStore } from '../src/store/index.ts';
import type { Store } from '../src/store/types.ts';

const API = 'http://localhost:4088';
const ADMIN_TOKEN = 'live-provider-admin-token-0123456789';
const server = createServer();
let origin: string;
let store: Store;
let keyring: Keyring;
let keys: Jwks;
let machine: RegisteredClient;
/** Set to hold the next lookup of the machine client until it is resolved. */
let hold: { reached: () => void; release: Promise<void> } | undefined;

before(async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'idp-live-provider-'));
  const port = await listen(server, 0, '127.0.0.1');
  origin = `http://127.0.0.1:${port}`;
  const config = loadConfig({ PORT: String(port), IDP_ISSUER: `${origin}/oauth`, IDP_DATA_DIR: dataDir, IDP_ADMIN_TOKEN: ADMIN_TOKEN });
  const opened = await openStore(config);
  store = {
    ...opened,
    adapter(model) {
      const adapter = opened.adapter(model);
      if (model !== 'Client') return adapter;
      return {
        ...adapter,
        async find(id) {
          const waiting = id === machine?.client_id ? hold : undefined;
          if (waiting) {
            hold = undefined;
            waiting.reached();
            await waiting.release;
          }
          return adapter.find(id);
        },
      };
    },
  };
  const secrets = await loadSecrets(dataDir, { adminToken: ADMIN_TOKEN });
  keys = secrets.jwks;
  keyring = await watchKeys(
    {
      where: 'the test',
      read: async () => keys,
      update: async () => assert.fail('not used'),
      watch: async () => async () => {}, // the test calls refresh() itself
    },
    keys,
    { refreshIntervalMs: 3_600_000, onError: (err) => assert.fail(String(err)) },
  );
  const { app } = createApp(config, secrets, store, pino({ level: 'silent' }), { keyring });
  server.on('request', app.callback());
  const idp = { origin, adminToken: ADMIN_TOKEN };
  await declareResourceServer(idp, { identifier: API, scopes: ['api.read'], access_token_format: 'jwt' });
  machine = await registerClient(idp, 'live-machine', ['api.read']);
});
after(async () => {
  await keyring?.close();
  await close(server);
  await store?.close();
});

const requestToken = async () => {
  const res = await fetch(`${origin}/oauth/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic(machine.client_id, machine.client_secret) },
    body: new URLSearchParams({ grant_type: 'client_credentials', scope: 'api.read', resource: API }),
  });
  assert.equal(res.status, 200);
  return ((await res.json()) as { access_token: string }).access_token;
};
const kidOf = (token: string) => decodeProtectedHeader(token).kid;
const published = async () => (await (await fetch(`${origin}/oauth/jwks.json`)).json()) as JSONWebKeySet;

test('a key change is in force from the next request on; a request in flight finishes on the provider it started on', async () => {
  const oldKid = keys.keys[0]!.kid;
  assert.equal(kidOf(await requestToken()), oldKid);

  let reached!: () => void;
  let release!: () => void;
  const inside = new Promise<void>((resolve) => (reached = resolve));
  hold = { reached, release: new Promise<void>((resolve) => (release = resolve)) };
  const inFlight = requestToken();
  await inside; // the token request is inside oidc-provider, looking up its client

  // promote a new key (as `npm run keys -- add` then `promote` would, in one step here)
  const added = await newSigningKey();
  keys = { keys: [added, ...keys.keys] };
  assert.equal(await keyring.refresh(), true);
  const after = await requestToken();
  assert.equal(kidOf(after), added.kid, 'the next request signs with the new key');
  assert.deepEqual((await published()).keys.map((k) => k.kid), [added.kid, oldKid]);

  release();
  const finished = await inFlight;
  assert.equal(kidOf(finished), oldKid, 'the request in flight was signed by the provider it started on');
  const jwks = createLocalJWKSet(await published());
  for (const token of [finished, after]) await jwtVerify(token, jwks, { audience: API, typ: 'at+jwt' });
});
