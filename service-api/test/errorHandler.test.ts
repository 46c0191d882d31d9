import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createApp } from '../src/app.ts';
import { useTestApp } from './support/app.ts';
import { rawRequest, serve } from './support/http.ts';

describe('the error handlers', () => {
  const app = useTestApp();

  it('answers unknown routes with a JSON 404', async () => {
    const res = await app.get('/nope');
    assert.equal(res.status, 404);
    assert.deepEqual(res.body, { error: 'not_found' });
  });

  it('answers 400 invalid_request to a malformed JSON body', async () => {
    const res = await rawRequest(`${app.baseUrl}/v1/whoami`, {
      method: 'POST',
      headers: { authorization: `Bearer ${app.token()}`, 'content-type': 'application/json' },
      body: '{"a":',
    });
    assert.equal(res.status, 400);
    assert.deepEqual(JSON.parse(res.body), { error: 'invalid_request', error_description: 'the request could not be parsed' });
  });

  it('answers 413 invalid_request to a JSON body over 16 kB', async () => {
    const res = await rawRequest(`${app.baseUrl}/v1/whoami`, {
      method: 'POST',
      headers: { authorization: `Bearer ${app.token()}`, 'content-type': 'application/json' },
      body: JSON.stringify({ pad: 'x'.repeat(17 * 1024) }),
    });
    assert.equal(res.status, 413);
    assert.deepEqual(JSON.parse(res.body), { error: 'invalid_request', error_description: 'the request could not be parsed' });
  });

  it('answers 500 server_error without internals when something unexpected fails', async () => {
    const broken = { verify: async () => Promise.reject(new Error('db password is hunter2')) };
    const served = await serve(createApp(app.config, { verifier: broken, log: app.log }));
    try {
      const res = await fetch(`${served.baseUrl}/v1/whoami`, { headers: { authorization: 'Bearer whatever' } });
      assert.equal(res.status, 500);
      assert.equal(await res.text(), '{"error":"server_error"}');
      const logged = app.records().filter((line) => line.msg === 'unhandled error');
      assert.equal(logged.length, 1, 'the internal error is logged for the operator');
    } finally {
      await served.stop();
    }
  });
});
