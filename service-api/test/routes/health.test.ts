import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createApp } from '../../src/app.ts';
import { loadConfig } from '../../src/config.ts';
import { capturingLogger, stubEnv, useTestApp } from '../support/app.ts';
import { serve } from '../support/http.ts';
import { STUB_CLIENT_SECRET } from '../support/introspectionStub.ts';

describe('GET /healthz', () => {
  const app = useTestApp();

  it('GET /healthz answers without a token and without calling the IDP', async () => {
    const res = await app.get('/healthz');
    assert.equal(res.status, 200);
    assert.deepEqual(res.body, { status: 'ok' });
    assert.equal(res.headers.get('x-powered-by'), null);
    assert.equal(app.stub.calls.length, 0);
  });

  it('answers 503 misconfigured, naming INTROSPECTION_CLIENT_ID, while the IDP rejects our credentials; ok once it accepts them', async () => {
    const { log } = capturingLogger();
    const served = await serve(createApp(loadConfig(stubEnv(app.stub, { TOKEN_VERIFICATION: 'introspection' })), { log, now: app.clock.now }));
    const healthz = async () => {
      const res = await fetch(`${served.baseUrl}/healthz`);
      return { status: res.status, body: (await res.json()) as unknown };
    };
    try {
      const t = app.token({ scope: 'service.api' });
      app.stub.clientSecret = 'rotated-at-the-idp';
      assert.deepEqual(await healthz(), { status: 200, body: { status: 'ok' } }, 'nothing is known before the IDP has answered');
      const refused = await fetch(`${served.baseUrl}/v1/whoami`, { headers: { authorization: `Bearer ${t}` } });
      assert.equal(refused.status, 503);
      const callsBefore = app.stub.calls.length;
      assert.deepEqual(await healthz(), {
        status: 503,
        body: {
          status: 'misconfigured',
          variable: 'INTROSPECTION_CLIENT_ID',
          reason: 'the IDP rejects the introspection client credentials: check INTROSPECTION_CLIENT_ID and INTROSPECTION_CLIENT_SECRET',
        },
      });
      assert.equal(app.stub.calls.length, callsBefore, '/healthz does not call the IDP');

      app.stub.clientSecret = STUB_CLIENT_SECRET;
      const accepted = await fetch(`${served.baseUrl}/v1/whoami`, { headers: { authorization: `Bearer ${t}` } });
      assert.equal(accepted.status, 200);
      assert.deepEqual(await healthz(), { status: 200, body: { status: 'ok' } });
    } finally {
      await served.stop();
    }
  });
});
