// A wrong introspection secret against a real IDP: requests keep their 503 (nothing the caller can
// fix), but the operator sees a configuration error, once, and /healthz says "misconfigured".
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { adminRequest, registerClient, startIdp, type RegisteredClient, type TestIdp } from '../../test/support/idp.ts';
import { createApp } from '../src/app.ts';
import { loadConfig } from '../src/config.ts';
import { capturingLogger } from './support/app.ts';
import { serve } from './support/http.ts';

let idp: TestIdp;
let introspector: RegisteredClient;
before(async () => {
  idp = await startIdp();
  introspector = await registerClient(idp, 'credentials-test-introspector');
});
after(async () => {
  await idp?.stop();
});

async function serviceApi(clientSecret: string) {
  const captured = capturingLogger();
  const env = ({
    TOKEN_VERIFICATION: 'introspection',
    IDP_ISSUER: idp.issuer,
    IDP_INTROSPECTION_URL: `${idp.issuer}/introspect`,
    INTROSPECTION_CLIENT_ID: introspector.client_id,
    INTROSPECTION_CLIENT_SECRET: clientSecret,
  });
  const served = await serve(createApp(loadConfig(env), { log: captured.log }));
  const get = async (path: string, token?: string) => {
    const res = await fetch(`${served.baseUrl}${path}`, token === undefined ? {} : { headers: { authorization: `Bearer ${token}` } });
    return { status: res.status, retryAfter: res.headers.get('retry-after'), body: (await res.json()) as unknown };
  };
  return { ...captured, get, stop: served.stop };
}

const MISCONFIGURED = {
  status: 'misconfigured',
  variable: 'INTROSPECTION_CLIENT_ID',
  reason: 'the IDP rejects the introspection client credentials: check INTROSPECTION_CLIENT_ID and INTROSPECTION_CLIENT_SECRET',
};

describe('a wrong introspection secret (real IDP)', () => {
  it('answers 503 to every request, logs one configuration error naming INTROSPECTION_CLIENT_ID, and /healthz reports it', async () => {
    const wrongSecret = 'not-the-secret-the-idp-issued-0123456789';
    const api = await serviceApi(wrongSecret);
    try {
      for (let i = 0; i < 3; i += 1) {
        const res = await api.get('/v1/whoami', `opaque-token-${i}-${'x'.repeat(30)}`);
        assert.deepEqual(res, { status: 503, retryAfter: '5', body: { error: 'temporarily_unavailable', error_description: 'the authorization server is unavailable' } });
      }
      assert.deepEqual(await api.get('/healthz'), { status: 503, retryAfter: null, body: MISCONFIGURED });

      const records = api.records();
      // Request lines of 5xx answers are logged at error level too; they are not reports of the problem.
      const errors = records.filter((r) => (r.level as number) >= 40 && r.msg !== 'request');
      assert.equal(errors.length, 1, `one warning or error for three refused requests, got ${JSON.stringify(errors)}`);
      assert.deepEqual([errors[0]!.level, errors[0]!.variable, errors[0]!.clientId], [50, 'INTROSPECTION_CLIENT_ID', introspector.client_id]);
      assert.match(String(errors[0]!.msg), /^configuration error: .*INTROSPECTION_CLIENT_ID/);
      assert.ok(!api.lines.join('').includes(wrongSecret), 'the secret is never logged');
    } finally {
      await api.stop();
    }
  });

  it('turns misconfigured when the secret is rotated at the IDP under a running service', async () => {
    const api = await serviceApi(introspector.client_secret);
    try {
      assert.deepEqual(await api.get('/v1/whoami', 'never-issued-token-0123456789'), {
        status: 401,
        retryAfter: null,
        body: { error: 'invalid_token', error_description: 'the token is not active' },
      });
      assert.deepEqual(await api.get('/healthz'), { status: 200, retryAfter: null, body: { status: 'ok' } });

      const rotated = await adminRequest(idp, 'POST', `/clients/${introspector.client_id}/secret`);
      assert.equal(rotated.status, 200, JSON.stringify(rotated.body));
      introspector = { ...introspector, client_secret: (rotated.body as RegisteredClient).client_secret };

      assert.equal((await api.get('/v1/whoami', 'another-never-issued-token-0123')).status, 503);
      assert.deepEqual(await api.get('/healthz'), { status: 503, retryAfter: null, body: MISCONFIGURED });
      assert.equal(api.records().filter((r) => (r.level as number) >= 40 && r.msg !== 'request').length, 1);
    } finally {
      await api.stop();
    }
  });
});
