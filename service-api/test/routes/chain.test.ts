// GET /v1/chain: the whole app (createApp on port 0) with the introspection stub, a token endpoint
// and a downstream service on port 0; how each failure downstream or at the IDP reaches the caller.
import assert from 'node:assert/strict';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { after, before, beforeEach, describe, it } from 'node:test';
import { createApp } from '../../src/app.ts';
import { createTokenExchanger } from '../../src/auth/exchangeToken.ts';
import { createIntrospectionVerifier } from '../../src/auth/introspect.ts';
import { loadConfig } from '../../src/config.ts';
import { stubEnv } from '../support/app.ts';
import { serve } from '../support/http.ts';
import { closedPortUrl, IntrospectionStub } from '../support/introspectionStub.ts';

const stub = new IntrospectionStub();
let idpAnswer: { status: number; body: Record<string, unknown> };
let downstreamAnswer: { status: number; body: string; headers?: Record<string, string> };
let downstreamAuthorization: string | undefined;
const stops: (() => Promise<void>)[] = [];
let base = '';
let unreachableBase = '';
const exp = Math.floor(Date.now() / 1000) + 600;

const json = (res: ServerResponse, status: number, body: string, headers: Record<string, string> = {}) =>
  res.writeHead(status, { 'content-type': 'application/json', ...headers }).end(body);

async function appWith(downstreamUrl: string, tokenUrl: string) {
  const config = loadConfig(stubEnv(stub, { DOWNSTREAM_SERVICE_URL: downstreamUrl, DOWNSTREAM_SERVICE_AUDIENCE: 'http://localhost:4002', IDP_TOKEN_URL: tokenUrl }));
  const app = createApp(config, { verifier: createIntrospectionVerifier({ ...config.introspection! }), exchanger: createTokenExchanger(config.downstream!.exchange) });
  const served = await serve(app);
  stops.push(served.stop);
  return served.baseUrl;
}

before(async () => {
  await stub.start();
  const idp = await serve((_req: IncomingMessage, res: ServerResponse) => json(res, idpAnswer.status, JSON.stringify(idpAnswer.body)));
  const downstream = await serve((req: IncomingMessage, res: ServerResponse) => {
    downstreamAuthorization = req.headers.authorization;
    json(res, downstreamAnswer.status, downstreamAnswer.body, downstreamAnswer.headers);
  });
  stops.push(idp.stop, downstream.stop);
  base = await appWith(downstream.baseUrl, `${idp.baseUrl}/oauth/token`);
  unreachableBase = await appWith(new URL(await closedPortUrl()).origin, `${idp.baseUrl}/oauth/token`);
});
after(async () => {
  for (const stop of stops) await stop();
  await stub.stop();
});
let counter = 0;
let token = '';
beforeEach(() => {
  token = `tok-chain-${++counter}-${'x'.repeat(20)}`;
  stub.tokens.set(token, { clientId: 'solutrix-web', sub: 'alice', scope: 'service.api', exp });
  idpAnswer = { status: 200, body: { access_token: `exchanged-${counter}`, issued_token_type: 'urn:ietf:params:oauth:token-type:access_token', token_type: 'Bearer', expires_in: 60, scope: 'b.read' } };
  downstreamAnswer = { status: 200, body: JSON.stringify({ subject: 'alice', clientId: 'service-introspector', scopes: ['b.read'], kind: 'user', expiresAt: exp, actor: { sub: 'service-introspector' } }) };
});

async function chain(url = base, bearer = token) {
  const res = await fetch(`${url}/v1/chain`, { headers: { authorization: `Bearer ${bearer}` } });
  return { status: res.status, retryAfter: res.headers.get('retry-after'), body: (await res.json()) as Record<string, unknown> };
}

describe('GET /v1/chain', () => {
  it("calls the downstream /v1/whoami with the exchanged token and answers both principals", async () => {
    const res = await chain();
    assert.equal(res.status, 200);
    assert.deepEqual(res.body, {
      principal: { subject: 'alice', clientId: 'solutrix-web', scopes: ['service.api'], kind: 'user', expiresAt: exp },
      downstream: JSON.parse(downstreamAnswer.body),
    });
    assert.equal(downstreamAuthorization, `Bearer exchanged-${counter}`, 'the exchanged token, never the caller\'s');
  });

  it('needs scope service.api (403 insufficient_scope)', async () => {
    stub.tokens.set(token, { clientId: 'solutrix-web', sub: 'alice', scope: 'openid', exp });
    const res = await chain();
    assert.deepEqual([res.status, res.body.error], [403, 'insufficient_scope']);
  });

  it('the IDP refusing the exchange is 502 upstream_error naming its error code', async () => {
    idpAnswer = { status: 400, body: { error: 'invalid_scope', error_description: 'the user did not grant these scopes for the target' } };
    const res = await chain();
    assert.deepEqual([res.status, res.body], [502, { error: 'upstream_error', error_description: 'the identity provider refused the token exchange (invalid_scope)', upstream_status: 400 }]);
  });

  it('the IDP failing the exchange is 503 with Retry-After', async () => {
    idpAnswer = { status: 500, body: { error: 'server_error' } };
    const res = await chain();
    assert.deepEqual([res.status, res.retryAfter, res.body], [503, '5', { error: 'temporarily_unavailable', error_description: 'the identity provider is unavailable' }]);
  });

  it('the downstream service refusing the token is 502 with its status; unavailable (503) keeps its Retry-After', async () => {
    downstreamAnswer = { status: 401, body: JSON.stringify({ error: 'invalid_token' }) };
    assert.deepEqual((await chain()).body, { error: 'upstream_error', error_description: 'the downstream service refused the request', upstream_status: 401 });
    token = `tok-chain-${++counter}-${'y'.repeat(20)}`;
    stub.tokens.set(token, { clientId: 'solutrix-web', sub: 'alice', scope: 'service.api', exp });
    downstreamAnswer = { status: 503, body: JSON.stringify({ error: 'temporarily_unavailable' }), headers: { 'retry-after': '7' } };
    const res = await chain();
    assert.deepEqual([res.status, res.retryAfter, res.body.error], [503, '7', 'temporarily_unavailable']);
  });

  it('an unreachable downstream service is 503 with Retry-After', async () => {
    const res = await chain(unreachableBase);
    assert.deepEqual([res.status, res.retryAfter, res.body], [503, '5', { error: 'temporarily_unavailable', error_description: 'the downstream service is unreachable' }]);
  });

  it('without DOWNSTREAM_SERVICE_URL the route does not exist (404)', async () => {
    const config = loadConfig(stubEnv(stub));
    const served = await serve(createApp(config, { verifier: createIntrospectionVerifier({ ...config.introspection! }) }));
    stops.push(served.stop);
    const res = await chain(served.baseUrl);
    assert.deepEqual([res.status, res.body], [404, { error: 'not_found' }]);
  });
});
