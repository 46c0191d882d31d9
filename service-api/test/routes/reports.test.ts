import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { REPORTS } from '../../src/routes/reports.ts';
import { useTestApp } from '../support/app.ts';

describe('GET /v1/reports', () => {
  const app = useTestApp();

  it('GET /v1/reports returns the reports to a token with service.api', async () => {
    const res = await app.get('/v1/reports', { authorization: `Bearer ${app.token({ scope: 'service.api' })}` });
    assert.equal(res.status, 200);
    assert.deepEqual(res.body, { reports: REPORTS });
    assert.equal(REPORTS[0]?.id, 'q3-revenue');
  });

  it('GET /v1/reports answers 403 insufficient_scope to a token without service.api', async () => {
    const res = await app.get('/v1/reports', { authorization: `Bearer ${app.token({ sub: 'alice', scope: 'openid' })}` });
    assert.equal(res.status, 403);
    assert.equal(res.headers.get('www-authenticate'), 'Bearer realm="service-api", error="insufficient_scope", scope="service.api"');
    assert.deepEqual(res.body, {
      error: 'insufficient_scope',
      error_description: 'the token lacks the scope "service.api"',
      scope: 'service.api',
    });
  });
});
