import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { useTestApp } from '../support/app.ts';

describe('GET /healthz', () => {
  const app = useTestApp();

  it('GET /healthz answers without a token and without calling the IDP', async () => {
    const res = await app.get('/healthz');
    assert.equal(res.status, 200);
    assert.deepEqual(res.body, { status: 'ok' });
    assert.equal(res.headers.get('x-powered-by'), null);
    assert.equal(app.stub.calls.length, 0);
  });
});
