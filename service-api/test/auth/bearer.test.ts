import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import express from 'express';
import { getPrincipal, requireBearer, requireScope } from '../../src/auth/bearer.ts';
import { AuthError, InvalidToken, TemporarilyUnavailable } from '../../src/auth/errors.ts';
import type { Principal, TokenVerifier } from '../../src/auth/principal.ts';
import { rawGet, serve } from '../support/http.ts';

const alice: Principal = { subject: 'alice', clientId: 'web', scopes: ['openid'], kind: 'user', expiresAt: 1_900_000_000 };
const machine: Principal = { clientId: 'solutrix-api', scopes: ['service.api'], kind: 'machine', expiresAt: 1_900_000_000 };

/** An in-memory verifier: the middleware is tested on its own, the introspection verifier elsewhere. */
const verified: string[] = [];
const verifier: TokenVerifier = {
  async verify(token) {
    verified.push(token);
    if (token === 'alice') return alice;
    if (token === 'machine') return machine;
    if (token === 'down') throw new TemporarilyUnavailable('the authorization server is unavailable', 7);
    if (token === 'bug') throw new Error('secret internals');
    throw new InvalidToken('the token is not active');
  },
};

const answered: AuthError[] = [];
const app = express();
app.use(requireBearer(verifier, { realm: 'test-realm', onError: (err) => answered.push(err) }));
app.get('/me', (_req, res) => {
  res.json(getPrincipal(res));
});
app.get('/scoped', requireScope('service.api'), (_req, res) => {
  res.json({ ok: true });
});
app.use((err: unknown, _req: express.Request, res: express.Response, _next: express.NextFunction) => {
  res.status(500).json({ error: 'server_error', seen: (err as Error).message });
});

let baseUrl = '';
let stop: () => Promise<void>;
before(async () => {
  ({ baseUrl, stop } = await serve(app));
});
after(async () => {
  await stop();
});
beforeEach(() => {
  verified.length = 0;
  answered.length = 0;
});

async function get(path: string, authorization?: string | string[]) {
  const res = await rawGet(`${baseUrl}${path}`, authorization === undefined ? {} : { authorization });
  return { status: res.status, headers: res.headers, body: JSON.parse(res.body) as unknown };
}

describe('requireBearer', () => {
  it('answers 401 with a bare Bearer challenge when there is no Authorization header', async () => {
    const res = await get('/me');
    assert.equal(res.status, 401);
    assert.equal(res.headers['www-authenticate'], 'Bearer realm="test-realm"');
    assert.deepEqual(res.body, { error: 'unauthorized', error_description: 'a bearer token is required' });
    assert.deepEqual(verified, []);
  });

  for (const header of ['Basic abc', 'Bearer', 'Bearer ', 'Bearer a b', 'Bearer ab"c', 'Bearer a,b', 'Bearerabc', 'Token abc', '']) {
    it(`answers 400 invalid_request for the malformed header ${JSON.stringify(header)}`, async () => {
      const res = await get('/me', header);
      assert.equal(res.status, 400);
      assert.equal(
        res.headers['www-authenticate'],
        'Bearer realm="test-realm", error="invalid_request", error_description="the Authorization header must be the Bearer scheme and one b64token"',
      );
      assert.deepEqual(res.body, { error: 'invalid_request', error_description: 'the Authorization header must be the Bearer scheme and one b64token' });
      assert.deepEqual(verified, []);
    });
  }

  it('answers 400 invalid_request for repeated Authorization headers', async () => {
    const res = await get('/me', ['Bearer alice', 'Bearer machine']);
    assert.equal(res.status, 400);
    assert.equal(res.headers['www-authenticate'], 'Bearer realm="test-realm", error="invalid_request", error_description="repeated Authorization header"');
    assert.deepEqual(res.body, { error: 'invalid_request', error_description: 'repeated Authorization header' });
    assert.deepEqual(verified, []);
  });

  it('accepts the scheme in any case and puts the principal on res.locals', async () => {
    for (const header of ['Bearer alice', 'bearer alice', 'BEARER  alice']) {
      const res = await get('/me', header);
      assert.equal(res.status, 200);
      assert.deepEqual(res.body, alice);
    }
    assert.deepEqual(verified, ['alice', 'alice', 'alice']);
  });

  it('answers 401 invalid_token with a WWW-Authenticate challenge for a rejected token', async () => {
    const res = await get('/me', 'Bearer revoked');
    assert.equal(res.status, 401);
    assert.equal(res.headers['www-authenticate'], 'Bearer realm="test-realm", error="invalid_token", error_description="the token is not active"');
    assert.deepEqual(res.body, { error: 'invalid_token', error_description: 'the token is not active' });
    assert.equal(answered.length, 1);
  });

  it('answers 503 with Retry-After, and no challenge, when the verifier cannot tell', async () => {
    const res = await get('/me', 'Bearer down');
    assert.equal(res.status, 503);
    assert.equal(res.headers['retry-after'], '7');
    assert.equal(res.headers['www-authenticate'], undefined);
    assert.deepEqual(res.body, { error: 'temporarily_unavailable', error_description: 'the authorization server is unavailable' });
    assert.ok(answered[0] instanceof TemporarilyUnavailable);
  });

  it('passes unexpected verifier errors to the error handler', async () => {
    const res = await get('/me', 'Bearer bug');
    assert.equal(res.status, 500);
    assert.deepEqual(res.body, { error: 'server_error', seen: 'secret internals' });
    assert.deepEqual(answered, []);
  });
});

describe('requireScope', () => {
  it('answers 403 insufficient_scope with the exact challenge when the scope is missing', async () => {
    const res = await get('/scoped', 'Bearer alice');
    assert.equal(res.status, 403);
    assert.equal(res.headers['www-authenticate'], 'Bearer realm="test-realm", error="insufficient_scope", scope="service.api"');
    assert.deepEqual(res.body, {
      error: 'insufficient_scope',
      error_description: 'the token lacks the scope "service.api"',
      scope: 'service.api',
    });
  });

  it('lets a token with the scope through', async () => {
    const res = await get('/scoped', 'Bearer machine');
    assert.equal(res.status, 200);
    assert.deepEqual(res.body, { ok: true });
  });
});

describe('getPrincipal', () => {
  it('throws when the route is not behind requireBearer', () => {
    const res = { locals: {} } as express.Response;
    assert.throws(() => getPrincipal(res), /not behind requireBearer/);
  });
});
