import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { Env } from '../../lib/env.ts';
import { loadConfig } from '../src/config.ts';

describe('loadConfig', () => {
  it('uses the local-dev defaults and requires only the introspection secret', () => {
    const config = loadConfig(new Env({ INTROSPECTION_CLIENT_SECRET: 'dev-secret' }));
    assert.deepEqual(config, {
      port: 4001,
      host: undefined,
      realm: 'service-api',
      introspection: {
        url: 'http://localhost:4000/oauth/introspect',
        clientId: 'service-introspector',
        clientSecret: 'dev-secret',
        issuer: 'http://localhost:4000/oauth',
        timeoutMs: 2000,
        cacheMaxTtlSeconds: 30,
        negativeTtlSeconds: 5,
        cacheMaxEntries: 10_000,
        retryAfterSeconds: 5,
      },
    });
    assert.ok(Object.isFrozen(config) && Object.isFrozen(config.introspection));
  });

  it('reads every variable', () => {
    const config = loadConfig(
      new Env({
        PORT: '5001',
        HOST: '127.0.0.1',
        IDP_INTROSPECTION_URL: 'http://idp:4000/oauth/introspect',
        IDP_ISSUER: 'http://idp.example',
        INTROSPECTION_CLIENT_ID: 'svc',
        INTROSPECTION_CLIENT_SECRET: 'x',
        INTROSPECTION_TIMEOUT_MS: '500',
        INTROSPECTION_CACHE_MAX_TTL: '10',
        INTROSPECTION_NEGATIVE_TTL: '1',
        INTROSPECTION_CACHE_MAX_ENTRIES: '50',
      }),
    );
    assert.equal(config.port, 5001);
    assert.equal(config.host, '127.0.0.1');
    // The issuer is compared to `iss` exactly, so it is kept verbatim (URL parsing would add a '/').
    assert.equal(config.introspection.issuer, 'http://idp.example');
    assert.deepEqual(
      [config.introspection.url, config.introspection.clientId, config.introspection.timeoutMs, config.introspection.cacheMaxTtlSeconds, config.introspection.negativeTtlSeconds, config.introspection.cacheMaxEntries],
      ['http://idp:4000/oauth/introspect', 'svc', 500, 10, 1, 50],
    );
  });

  it('reads the secret from INTROSPECTION_CLIENT_SECRET_FILE', () => {
    const file = join(mkdtempSync(join(tmpdir(), 'service-api-')), 'secret');
    writeFileSync(file, 'from-file\n');
    assert.equal(loadConfig(new Env({ INTROSPECTION_CLIENT_SECRET_FILE: file })).introspection.clientSecret, 'from-file');
  });

  it('fails naming the variable', () => {
    assert.throws(() => loadConfig(new Env({})), new TypeError('INTROSPECTION_CLIENT_SECRET or INTROSPECTION_CLIENT_SECRET_FILE must be set'));
    assert.throws(
      () => loadConfig(new Env({ INTROSPECTION_CLIENT_SECRET: 'x', INTROSPECTION_TIMEOUT_MS: '0' })),
      /^TypeError: INTROSPECTION_TIMEOUT_MS must be an integer/,
    );
    assert.throws(() => loadConfig(new Env({ INTROSPECTION_CLIENT_SECRET: 'x', IDP_ISSUER: 'not a url' })), /^TypeError: IDP_ISSUER must be an absolute URL/);
    assert.throws(() => loadConfig(new Env({ INTROSPECTION_CLIENT_SECRET: 'x', PORT: '70000' })), /^TypeError: PORT must be an integer/);
  });
});
