import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { useTestApp } from './support/app.ts';
import { STUB_CLIENT_SECRET } from './support/introspectionStub.ts';

describe('requestLog', () => {
  const app = useTestApp();

  it('logs one line per request with method, path without query, status and latency, and never the token', async () => {
    const t = app.token({ scope: 'service.api' });
    await app.get(`/v1/reports?access_token=${t}`, { authorization: `Bearer ${t}` });
    // The line is written on the server's 'close', which can trail the client's read of the body.
    for (let i = 0; i < 1000 && !app.logLines.some((l) => l.includes('"msg":"request"')); i++) {
      await new Promise((resolve) => setImmediate(resolve));
    }
    const requests = app.logLines.map((line) => JSON.parse(line) as Record<string, unknown>).filter((l) => l.msg === 'request');
    assert.equal(requests.length, 1);
    const { method, path, status, ms } = requests[0]!;
    assert.deepEqual({ method, path, status }, { method: 'GET', path: '/v1/reports', status: 200 });
    assert.equal(typeof ms, 'number');
    assert.ok(!app.logLines.join('').includes(t));
    assert.ok(!app.logLines.join('').includes(STUB_CLIENT_SECRET));
  });
});
