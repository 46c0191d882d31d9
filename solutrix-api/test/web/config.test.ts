import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { loadConfig } from '../../src/config.ts';

const base = { IDP_CLIENT_SECRET: 'machine' };

test('the web login is off (no `web` key) unless its client secret is set', () => {
  assert.equal('web' in loadConfig(base), false);
  assert.throws(() => loadConfig({ ...base, WEB_CLIENT_ID: 'solutrix-web' }), /WEB_CLIENT_SECRET or WEB_CLIENT_SECRET_FILE must be set/);
});

test('web defaults: public URL from PORT, solutrix-web, generated session secret', () => {
  const { web } = loadConfig({ ...base, PORT: '3100', WEB_CLIENT_SECRET: 'w' });
  assert.deepEqual(web, {
    publicUrl: 'http://localhost:3100',
    issuer: 'http://localhost:4000/oauth',
    idpBackchannelUrl: undefined,
    clientId: 'solutrix-web',
    clientSecret: 'w',
    scope: 'openid profile email offline_access service.api',
    sessionSecret: undefined,
    sessionIdleTimeoutSeconds: 28800,
    maxSessions: 10000,
    timeoutSeconds: 5,
  });
  assert.ok(Object.isFrozen(web));
});

test('reads secrets from *_FILE and validates the public URL and session secret', () => {
  const dir = mkdtempSync(join(tmpdir(), 'solutrix-web-config-'));
  writeFileSync(join(dir, 'web'), 'from-file\n');
  writeFileSync(join(dir, 'session'), `${'s'.repeat(40)}\n`);
  const { web } = loadConfig({
    ...base,
    WEB_CLIENT_SECRET_FILE: join(dir, 'web'),
    SESSION_SECRET_FILE: join(dir, 'session'),
    SOLUTRIX_PUBLIC_URL: 'https://solutrix.example/',
    IDP_BACKCHANNEL_URL: 'http://idp.internal:4000',
  });
  assert.equal(web?.clientSecret, 'from-file');
  assert.equal(web?.sessionSecret, 's'.repeat(40));
  assert.equal(web?.publicUrl, 'https://solutrix.example');
  assert.equal(web?.idpBackchannelUrl, 'http://idp.internal:4000');
  assert.throws(() => loadConfig({ ...base, WEB_CLIENT_SECRET: 'w', SOLUTRIX_PUBLIC_URL: 'http://x.example/app' }), /SOLUTRIX_PUBLIC_URL must be an origin/);
  assert.throws(() => loadConfig({ ...base, WEB_CLIENT_SECRET: 'w', SESSION_SECRET: 'short' }), /SESSION_SECRET must be at least 32 characters/);
});
