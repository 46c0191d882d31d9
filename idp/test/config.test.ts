import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, it } from 'node:test';
import { loadConfig } from '../src/config.ts';

const TOKEN = 'a-good-admin-token-0123456789-abcdef';

describe('loadConfig', () => {
  it('uses the local-dev defaults and needs nothing set', () => {
    const loaded = loadConfig({});
    assert.ok(Object.isFrozen(loaded));
    const { metricsAllow, ...config } = loaded;
    assert.deepEqual(metricsAllow.entries, []);
  assert.deepEqual(config, {
      port: 4000,
      host: undefined,
      logLevel: 'info',
      issuer: 'http://localhost:4000/oauth',
      dataDir: resolve('./.data/idp'),
      databaseUrl: undefined,
      databasePoolSize: 10,
      adminToken: undefined,
      introspectors: [],
      firstPartyClients: ['solutrix-web'],
      accessTokenFormat: 'opaque',
      serviceApiAudience: 'http://localhost:4001',
      accessTokenTtl: 3600,
      clientCredentialsTtl: 600,
      refreshTokenTtl: 14 * 24 * 3600,
      trustedProxies: [],
      ssf: { longPollSeconds: 25, streamInactivityTimeout: 7 * 24 * 3600, maxStreamsPerClient: 100, minVerificationInterval: 5 },
    });
    assert.ok(Object.isFrozen(config.introspectors));
  });

  it('reads every variable, the admin token from IDP_ADMIN_TOKEN_FILE, and treats "" as unset', () => {
    const file = join(mkdtempSync(join(tmpdir(), 'idp-config-')), 'admin-token');
    writeFileSync(file, `${TOKEN}\n`);
    const { metricsAllow, ...config } = loadConfig({
      PORT: '4100',
      HOST: '127.0.0.1',
      LOG_LEVEL: 'warn',
      IDP_ISSUER: 'https://idp.example/oauth/',
      IDP_DATA_DIR: '/tmp/idp-data',
      IDP_DATABASE_URL: 'postgres://idp@db/idp',
      IDP_DATABASE_POOL_SIZE: '4',
      IDP_ADMIN_TOKEN: '',
      IDP_ADMIN_TOKEN_FILE: file,
      IDP_INTROSPECTORS: 'a, b',
      IDP_FIRST_PARTY_CLIENTS: 'web',
      ACCESS_TOKEN_FORMAT: 'jwt',
      SERVICE_API_AUDIENCE: 'https://api.example/',
      ACCESS_TOKEN_TTL: '300',
      CLIENT_CREDENTIALS_TTL: '60',
      REFRESH_TOKEN_TTL: '86400',
      IDP_TRUSTED_PROXIES: '10.0.0.1, 172.16.0.0/12,fd00::/8',
      SSF_LONG_POLL_SECONDS: '10',
      SSF_STREAM_INACTIVITY_TIMEOUT: '3600',
      SSF_MAX_STREAMS_PER_CLIENT: '5',
      SSF_MIN_VERIFICATION_INTERVAL: '0',
    });
    assert.deepEqual(metricsAllow.entries, []);
  assert.deepEqual(config, {
      port: 4100,
      host: '127.0.0.1',
      logLevel: 'warn',
      issuer: 'https://idp.example/oauth',
      dataDir: '/tmp/idp-data',
      databaseUrl: 'postgres://idp@db/idp',
      databasePoolSize: 4,
      adminToken: TOKEN,
      introspectors: ['a', 'b'],
      firstPartyClients: ['web'],
      accessTokenFormat: 'jwt',
      serviceApiAudience: 'https://api.example',
      accessTokenTtl: 300,
      clientCredentialsTtl: 60,
      refreshTokenTtl: 86400,
      trustedProxies: [
        { address: '10.0.0.1', prefix: 32, family: 'ipv4' },
        { address: '172.16.0.0', prefix: 12, family: 'ipv4' },
        { address: 'fd00::', prefix: 8, family: 'ipv6' },
      ],
      ssf: { longPollSeconds: 10, streamInactivityTimeout: 3600, maxStreamsPerClient: 5, minVerificationInterval: 0 },
    });
  });

  it('refuses an IDP_TRUSTED_PROXIES entry that is neither an IP nor a CIDR range, naming the variable', () => {
    for (const entry of ['proxy.internal', '10.0.0.0/33', 'fd00::/129', '10.0.0.1/8/1', '10.0.0.1/', '10.0.0.1/-1', '10.0.0.256', '*']) {
      assert.throws(() => loadConfig({ IDP_TRUSTED_PROXIES: `127.0.0.1,${entry}` }), {
        name: 'TypeError',
        message: `IDP_TRUSTED_PROXIES must be comma-separated IP addresses or CIDR ranges (10.0.0.0/8, fd00::/8), got "${entry}"`,
      }, entry);
    }
  });

  it('derives the issuer from PORT', () => {
    assert.equal(loadConfig({ PORT: '4100' }).issuer, 'http://localhost:4100/oauth');
  });

  it('refuses an admin token that no Bearer header can carry or that is short, without showing it', () => {
    const cases = [
      ['with a space', 'a-good-admin-token 0123456789-abcdef', 'IDP_ADMIN_TOKEN must be visible ASCII characters without spaces (it is sent as a Bearer token); the value set has other characters'],
      ['non-ASCII', 'a-good-admin-token-0123456789-abcdé', 'IDP_ADMIN_TOKEN must be visible ASCII characters without spaces (it is sent as a Bearer token); the value set has other characters'],
      ['31 characters', 'x'.repeat(31), 'IDP_ADMIN_TOKEN must be at least 32 characters; the value set has 31'],
    ] as const;
    for (const [label, token, message] of cases) {
      assert.throws(() => loadConfig({ IDP_ADMIN_TOKEN: token }), { name: 'TypeError', message }, label);
    }
    assert.equal(loadConfig({ IDP_ADMIN_TOKEN: 'x'.repeat(32) }).adminToken, 'x'.repeat(32));
  });

  it('refuses an integer setting that is not plain decimal digits within its bound', () => {
    for (const raw of ['1e3', '0x10', '99999999999999', '+60', ' 60', '60s', '0', '604801']) {
      assert.throws(
        () => loadConfig({ ACCESS_TOKEN_TTL: raw }),
        { name: 'TypeError', message: `ACCESS_TOKEN_TTL must be an integer between 1 and 604800 (decimal digits only), got "${raw}"` },
        raw,
      );
    }
    assert.equal(loadConfig({ ACCESS_TOKEN_TTL: '604800' }).accessTokenTtl, 604800);
    assert.throws(() => loadConfig({ REFRESH_TOKEN_TTL: '99999999999999' }), { message: /^REFRESH_TOKEN_TTL must be an integer between 1 and 31536000/ });
    assert.throws(() => loadConfig({ IDP_DATABASE_POOL_SIZE: '1e1' }), { message: /^IDP_DATABASE_POOL_SIZE must be an integer/ });
    // A long poll past common proxies' 60 s idle timeout would be cut off as idle.
    assert.throws(() => loadConfig({ SSF_LONG_POLL_SECONDS: '60' }), { message: /^SSF_LONG_POLL_SECONDS must be an integer between 1 and 55/ });
    assert.throws(() => loadConfig({ SSF_STREAM_INACTIVITY_TIMEOUT: '5' }), { message: /^SSF_STREAM_INACTIVITY_TIMEOUT must be an integer between 60/ });
  });

  it('refuses a LOG_LEVEL pino does not have, listing the levels', () => {
    assert.throws(() => loadConfig({ LOG_LEVEL: 'verbose' }), {
      name: 'TypeError',
      message: 'LOG_LEVEL must be one of fatal, error, warn, info, debug, trace, silent, got "verbose"',
    });
  });

  it('fails naming the variable', () => {
    assert.throws(() => loadConfig({ IDP_ISSUER: 'http://idp.example/oauth?x=1' }), { message: 'IDP_ISSUER must not have a query or fragment' });
    assert.throws(() => loadConfig({ IDP_ISSUER: 'idp' }), { message: 'IDP_ISSUER must be an absolute URL, got "idp"' });
    assert.throws(() => loadConfig({ IDP_DATABASE_URL: 'mysql://db', IDP_ADMIN_TOKEN: TOKEN }), { message: /^IDP_DATABASE_URL must be a postgres:\/\// });
    assert.throws(() => loadConfig({ IDP_DATABASE_URL: 'postgres://db' }), { message: /^IDP_ADMIN_TOKEN or IDP_ADMIN_TOKEN_FILE must be set when IDP_DATABASE_URL is set/ });
    assert.throws(() => loadConfig({ ACCESS_TOKEN_FORMAT: 'paseto' }), { message: 'ACCESS_TOKEN_FORMAT must be one of opaque, jwt, got "paseto"' });
    assert.throws(() => loadConfig({ PORT: '65536' }), { message: /^PORT must be an integer between 0 and 65535/ });
  });
});
