import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { useTestApp } from '../support/app.ts';

describe('GET /v1/whoami', () => {
  const app = useTestApp();

  it('GET /v1/whoami returns the principal of a user token', async () => {
    const t = app.token({ sub: 'alice', clientId: 'web', scope: 'openid profile' });
    const res = await app.get('/v1/whoami', { authorization: `Bearer ${t}` });
    assert.equal(res.status, 200);
    assert.deepEqual(res.body, { subject: 'alice', clientId: 'web', scopes: ['openid', 'profile'], kind: 'user', expiresAt: app.exp });
  });

  it('GET /v1/whoami returns a machine principal with subject null', async () => {
    const t = app.token({ scope: 'service.api' });
    const res = await app.get('/v1/whoami', { authorization: `Bearer ${t}` });
    assert.equal(res.status, 200);
    assert.deepEqual(res.body, { subject: null, clientId: 'solutrix-api', scopes: ['service.api'], kind: 'machine', expiresAt: app.exp });
  });
});
