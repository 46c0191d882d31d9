import { expect, test } from '@playwright/test';
import { basic } from '../lib/http.ts';
import { idpUrl, serviceApiUrl } from './env.ts';
import { admin } from './support.ts';

test.describe('the Service API, called directly', () => {
  test('no token: 401 with a Bearer challenge', async ({ request }) => {
    const res = await request.get(`${serviceApiUrl}/v1/whoami`);
    expect(res.status()).toBe(401);
    expect(res.headers()['www-authenticate']).toContain('Bearer');
  });

  test('a garbage token: 401 invalid_token', async ({ request }) => {
    const res = await request.get(`${serviceApiUrl}/v1/whoami`, { headers: { authorization: 'Bearer not-a-real-token' } });
    expect(res.status()).toBe(401);
    expect(res.headers()['www-authenticate']).toContain('error="invalid_token"');
  });

  test('a token without service.api: 403 insufficient_scope on /v1/reports', async ({ request }) => {
    const name = `e2e-no-scope-${Date.now()}-${test.info().workerIndex}`;
    const created = await admin(request, 'POST', '/clients', { name, redirect_uris: [], grant_types: ['client_credentials'], scopes: [] });
    expect(created.status()).toBe(201);
    const client = (await created.json()) as { client_id: string; client_secret: string };
    try {
      const tokenRes = await request.post(`${idpUrl}/oauth/token`, {
        headers: { authorization: basic(client.client_id, client.client_secret) },
        form: { grant_type: 'client_credentials' },
      });
      expect(tokenRes.status()).toBe(200);
      const { access_token: token, scope } = (await tokenRes.json()) as { access_token: string; scope?: string };
      expect(scope ?? '').not.toContain('service.api');

      const res = await request.get(`${serviceApiUrl}/v1/reports`, { headers: { authorization: `Bearer ${token}` } });
      expect(res.status()).toBe(403);
      expect(res.headers()['www-authenticate']).toContain('error="insufficient_scope"');
      expect(res.headers()['www-authenticate']).toContain('scope="service.api"');
    } finally {
      await admin(request, 'DELETE', `/clients/${encodeURIComponent(client.client_id)}`);
    }
  });
});
