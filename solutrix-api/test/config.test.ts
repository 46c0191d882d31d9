import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { loadConfig } from '../src/config.ts';

test('local-dev defaults need only the client secret', () => {
  const loaded = loadConfig({ IDP_CLIENT_SECRET: 's3cret' });
  assert.ok(Object.isFrozen(loaded));
  const { metricsAllow, ...config } = loaded;
  assert.deepEqual(metricsAllow.entries, []);
  assert.deepEqual(config, {
    port: 3000,
    logLevel: 'info',
    serviceApiUrl: 'http://localhost:4001',
    serviceApiTimeoutMs: 5000,
    serviceToken: {
      issuer: 'http://localhost:4000/oauth',
      tokenUrl: undefined,
      clientId: 'solutrix-api',
      clientSecret: 's3cret',
      scope: 'service.api',
      resource: undefined,
      timeoutSeconds: 5,
    },
  });
  assert.ok(Object.isFrozen(config.serviceToken));
});

test('reads every variable, the secret from IDP_CLIENT_SECRET_FILE, and treats "" as unset', () => {
  const dir = mkdtempSync(join(tmpdir(), 'solutrix-config-'));
  writeFileSync(join(dir, 'secret'), 'from-file\n');
  const { metricsAllow, ...config } = loadConfig({
    PORT: '3100',
    IDP_ISSUER: 'https://idp.example/oauth',
    IDP_TOKEN_URL: 'https://idp.example/oauth/token',
    IDP_CLIENT_ID: 'solutrix-staging',
    IDP_CLIENT_SECRET: '',
    IDP_CLIENT_SECRET_FILE: join(dir, 'secret'),
    SERVICE_TOKEN_SCOPE: 'service.api reports.read',
    SERVICE_API_RESOURCE: 'https://service-api.example',
    SERVICE_API_URL: 'https://service-api.example/base/',
    LOG_LEVEL: 'debug',
  });
  assert.deepEqual(metricsAllow.entries, []);
  assert.deepEqual(config, {
    port: 3100,
    logLevel: 'debug',
    serviceApiUrl: 'https://service-api.example/base',
    serviceApiTimeoutMs: 5000,
    serviceToken: {
      issuer: 'https://idp.example/oauth',
      tokenUrl: 'https://idp.example/oauth/token',
      clientId: 'solutrix-staging',
      clientSecret: 'from-file',
      scope: 'service.api reports.read',
      resource: 'https://service-api.example',
      timeoutSeconds: 5,
    },
  });
});

test('fails fast naming the variable', () => {
  assert.throws(() => loadConfig({}), { name: 'TypeError', message: 'IDP_CLIENT_SECRET or IDP_CLIENT_SECRET_FILE must be set' });
  const ok = { IDP_CLIENT_SECRET: 's' };
  assert.throws(() => loadConfig({ ...ok, IDP_TOKEN_URL: 'idp/token' }), { message: 'IDP_TOKEN_URL must be an absolute URL, got "idp/token"' });
  assert.throws(() => loadConfig({ ...ok, IDP_ISSUER: 'ftp://idp' }), { message: 'IDP_ISSUER must be an http(s) URL, got "ftp://idp"' });
  assert.throws(() => loadConfig({ ...ok, SERVICE_API_URL: 'nope' }), { message: /^SERVICE_API_URL / });
  assert.throws(() => loadConfig({ ...ok, SERVICE_TOKEN_SCOPE: 'a  b' }), { message: /^SERVICE_TOKEN_SCOPE / });
  assert.throws(() => loadConfig({ ...ok, SERVICE_API_RESOURCE: 'not a uri' }), { message: /^SERVICE_API_RESOURCE / });
  assert.throws(() => loadConfig({ ...ok, PORT: '70000' }), { message: /^PORT / });
});
