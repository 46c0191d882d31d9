// The token-exchange helper against a token endpoint on port 0 that answers as oidc-provider does
// (the IDP's policy itself is tested in idp/test/tokenExchange.test.ts and test/integration/).
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { after, before, beforeEach, describe, it } from 'node:test';
import { close, listen } from '../../../lib/server.ts';
import { TemporarilyUnavailable } from '../../src/auth/errors.ts';
import { createTokenExchanger, TokenExchangeRefused } from '../../src/auth/exchangeToken.ts';
import { closedPortUrl, frozenClock } from '../support/introspectionStub.ts';

type Answer = { status: number; body: Record<string, unknown> };
let forms: URLSearchParams[] = [];
let authorizations: (string | undefined)[] = [];
let answer: Answer;
let gate: Promise<void> | undefined;
let issued = 0;
const server: Server = createServer(async (req, res) => {
  let raw = '';
  for await (const chunk of req) raw += chunk;
  forms.push(new URLSearchParams(raw));
  authorizations.push(req.headers.authorization);
  await gate;
  issued += 1;
  const body = answer.status === 200 ? { access_token: `exchanged-${issued}`, ...answer.body } : answer.body;
  res.writeHead(answer.status, { 'content-type': 'application/json', 'cache-control': 'no-store' }).end(JSON.stringify(body));
});
let tokenUrl = '';
let clock = frozenClock();
const exchanger = (overrides = {}) =>
  createTokenExchanger({ tokenUrl, issuer: 'http://idp.test/oauth', clientId: 'servicea', clientSecret: 's3cret', now: clock.now, ...overrides });

before(async () => {
  tokenUrl = `http://127.0.0.1:${await listen(server, 0, '127.0.0.1')}/oauth/token`;
});
after(async () => {
  server.closeAllConnections();
  await close(server);
});
beforeEach(() => {
  forms = [];
  authorizations = [];
  gate = undefined;
  issued = 0;
  clock = frozenClock();
  answer = { status: 200, body: { issued_token_type: 'urn:ietf:params:oauth:token-type:access_token', token_type: 'Bearer', expires_in: 60, scope: 'b.read' } };
});

describe('exchangeToken', () => {
  it('sends an RFC 8693 request as its own client (HTTP Basic) and returns the token with its expiry', async () => {
    const token = await exchanger().exchangeToken({ subjectToken: 'alice-token', audience: 'http://localhost:4002', scope: 'b.read' });
    assert.deepEqual(token, { accessToken: 'exchanged-1', scope: 'b.read', expiresAt: Math.floor(clock.now() / 1000) + 60 });
    assert.deepEqual(Object.fromEntries(forms[0]!), {
      grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange',
      subject_token: 'alice-token',
      subject_token_type: 'urn:ietf:params:oauth:token-type:access_token',
      requested_token_type: 'urn:ietf:params:oauth:token-type:access_token',
      audience: 'http://localhost:4002',
      scope: 'b.read',
    });
    assert.equal(authorizations[0], `Basic ${Buffer.from('servicea:s3cret').toString('base64')}`);
  });

  it('reuses a token per subject token + audience + scope until 5 s before it expires', async () => {
    const x = exchanger();
    const request = { subjectToken: 'alice-token', audience: 'http://localhost:4002', scope: 'b.read' };
    const first = await x.exchangeToken(request);
    assert.equal((await x.exchangeToken(request)).accessToken, first.accessToken);
    assert.equal((await x.exchangeToken({ ...request, scope: 'b.write' })).accessToken, 'exchanged-2', 'another scope is another token');
    assert.equal((await x.exchangeToken({ ...request, subjectToken: 'bob-token' })).accessToken, 'exchanged-3', 'another user is another token');
    clock.advance(54_999);
    assert.equal((await x.exchangeToken(request)).accessToken, first.accessToken);
    clock.advance(1);
    assert.equal((await x.exchangeToken(request)).accessToken, 'exchanged-4', 'renewed 5 s before expiry');
    assert.deepEqual(x.stats, { exchanges: 4, cacheHits: 2, coalesced: 0 });
  });

  it('concurrent calls for the same key share one request to the IDP', async () => {
    let open!: () => void;
    gate = new Promise((resolve) => (open = resolve));
    const x = exchanger();
    const request = { subjectToken: 'alice-token', audience: 'http://localhost:4002' };
    const all = Promise.all([x.exchangeToken(request), x.exchangeToken(request), x.exchangeToken(request)]);
    open();
    const tokens = await all;
    assert.deepEqual(tokens.map((t) => t.accessToken), ['exchanged-1', 'exchanged-1', 'exchanged-1']);
    assert.equal(forms.length, 1);
    assert.equal(x.stats.coalesced, 2);
  });

  it("the IDP's refusal is TokenExchangeRefused with its error code, and is not cached", async () => {
    answer = { status: 400, body: { error: 'invalid_scope', error_description: 'the user did not grant these scopes for the target' } };
    const x = exchanger();
    const request = { subjectToken: 'alice-token', audience: 'http://localhost:4002', scope: 'b.admin' };
    for (let i = 0; i < 2; i++) {
      await assert.rejects(x.exchangeToken(request), (err: unknown) => err instanceof TokenExchangeRefused && err.idpError === 'invalid_scope' && err.idpStatus === 400);
    }
    assert.equal(forms.length, 2);
  });

  it('the IDP failing, refusing our credentials, or unreachable is TemporarilyUnavailable (503)', async () => {
    const unavailable = (err: unknown) => err instanceof TemporarilyUnavailable && err.status === 503 && err.retryAfterSeconds === 5;
    answer = { status: 500, body: { error: 'server_error' } };
    await assert.rejects(exchanger().exchangeToken({ subjectToken: 't', audience: 'http://localhost:4002' }), unavailable);
    answer = { status: 401, body: { error: 'invalid_client' } };
    await assert.rejects(exchanger().exchangeToken({ subjectToken: 't', audience: 'http://localhost:4002' }), unavailable);
    await assert.rejects(exchanger({ tokenUrl: (await closedPortUrl()).replace('introspect', 'token') }).exchangeToken({ subjectToken: 't', audience: 'http://localhost:4002' }), unavailable);
  });
});
