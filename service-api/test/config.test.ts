import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { loadConfig } from '../src/config.ts';

describe('loadConfig', () => {
  it('uses the local-dev defaults and requires only the introspection secret', () => {
    const loaded = loadConfig({ INTROSPECTION_CLIENT_SECRET: 'dev-secret' });
    assert.ok(Object.isFrozen(loaded));
    const { metricsAllow, ...config } = loaded;
    assert.deepEqual(metricsAllow.entries, []);
    assert.deepEqual(config, {
      port: 4001,
      host: undefined,
      logLevel: 'info',
      realm: 'service-api',
      tokenVerification: 'auto',
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
        audience: 'http://localhost:4001',
        acceptTokensWithoutAudience: false,
      },
      // Off unless asked for (npm start and compose ask for it).
      revocationEvents: undefined,
      jwt: {
        jwksUrl: 'http://localhost:4000/oauth/jwks.json',
        issuer: 'http://localhost:4000/oauth',
        audience: 'http://localhost:4001',
        cooldownSeconds: 30,
        cacheMaxAgeSeconds: 600,
        principalCacheSeconds: 30,
        timeoutMs: 2000,
        retryAfterSeconds: 5,
        acceptTokensWithoutAudience: false,
      },
      downstream: undefined,
    });
    assert.ok(Object.isFrozen(config.introspection) && Object.isFrozen(config.jwt));
  });

  it('DOWNSTREAM_SERVICE_URL enables /v1/chain; the exchange uses the introspection client unless TOKEN_EXCHANGE_CLIENT_ID/_SECRET say otherwise', () => {
    const base = { INTROSPECTION_CLIENT_ID: 'a-introspector', INTROSPECTION_CLIENT_SECRET: 'dev-secret', DOWNSTREAM_SERVICE_URL: 'http://127.0.0.1:4002/' };
    assert.deepEqual(loadConfig(base).downstream, {
      url: 'http://127.0.0.1:4002',
      audience: 'http://127.0.0.1:4002',
      scope: undefined,
      timeoutMs: 2000,
      exchange: { tokenUrl: 'http://localhost:4000/oauth/token', issuer: 'http://localhost:4000/oauth', clientId: 'a-introspector', clientSecret: 'dev-secret', timeoutMs: 2000 },
    });
    const own = loadConfig({ ...base, DOWNSTREAM_SERVICE_AUDIENCE: 'http://localhost:4002', DOWNSTREAM_SCOPE: 'b.read', TOKEN_EXCHANGE_CLIENT_ID: 'a-exchanger', TOKEN_EXCHANGE_CLIENT_SECRET: 'other' }).downstream!;
    assert.deepEqual([own.audience, own.scope, own.exchange.clientId, own.exchange.clientSecret], ['http://localhost:4002', 'b.read', 'a-exchanger', 'other']);
    assert.throws(() => loadConfig({ ...base, DOWNSTREAM_SERVICE_URL: 'not a url' }), /DOWNSTREAM_SERVICE_URL/);
  });

  it('REVOCATION_EVENTS=ssf: the SSF configuration URL derives from the issuer (RFC 8414 style), no cap below exp, the introspection client\'s credentials', () => {
    const config = loadConfig({ REVOCATION_EVENTS: 'ssf', INTROSPECTION_CLIENT_SECRET: 'dev-secret', IDP_ISSUER: 'https://idp.example/tenant/oauth/' });
    assert.deepEqual(config.revocationEvents, {
      configurationUrl: 'https://idp.example/.well-known/ssf-configuration/tenant/oauth',
      tokenUrl: undefined,
      clientId: 'service-introspector',
      clientSecret: 'dev-secret',
      issuer: 'https://idp.example/tenant/oauth/',
      maxTtlWithEventsSeconds: undefined,
    });
    assert.ok(Object.isFrozen(config.revocationEvents));
    const explicit = loadConfig({
      REVOCATION_EVENTS: 'ssf',
      TOKEN_VERIFICATION: 'jwt',
      INTROSPECTION_CLIENT_ID: 'api-7',
      INTROSPECTION_CLIENT_SECRET: 's',
      IDP_SSF_CONFIGURATION_URL: 'http://idp.internal:4000/.well-known/ssf-configuration/oauth',
      IDP_TOKEN_URL: 'http://idp.internal:4000/oauth/token',
      INTROSPECTION_CACHE_MAX_TTL_WITH_EVENTS: '3600',
    });
    assert.deepEqual(
      { ...explicit.revocationEvents },
      {
        configurationUrl: 'http://idp.internal:4000/.well-known/ssf-configuration/oauth',
        tokenUrl: 'http://idp.internal:4000/oauth/token',
        clientId: 'api-7',
        clientSecret: 's',
        issuer: 'http://localhost:4000/oauth',
        maxTtlWithEventsSeconds: 3600,
      },
      'in jwt mode too: revoked JWTs arrive as events',
    );
    assert.throws(() => loadConfig({ REVOCATION_EVENTS: 'push', INTROSPECTION_CLIENT_SECRET: 'x' }), /^TypeError: REVOCATION_EVENTS must be one of off, ssf/);
    assert.throws(() => loadConfig({ REVOCATION_EVENTS: 'ssf', TOKEN_VERIFICATION: 'jwt' }), new TypeError('INTROSPECTION_CLIENT_SECRET or INTROSPECTION_CLIENT_SECRET_FILE must be set'));
    assert.throws(() => loadConfig({ REVOCATION_EVENTS: 'ssf', INTROSPECTION_CLIENT_SECRET: 'x', INTROSPECTION_CACHE_MAX_TTL_WITH_EVENTS: '1h' }), /^TypeError: INTROSPECTION_CACHE_MAX_TTL_WITH_EVENTS must be an integer/);
    assert.throws(() => loadConfig({ REVOCATION_EVENTS: 'ssf', INTROSPECTION_CLIENT_SECRET: 'x', IDP_SSF_CONFIGURATION_URL: 'idp' }), /^TypeError: IDP_SSF_CONFIGURATION_URL must be an absolute URL/);
  });

  it('reads every variable', () => {
    const config = loadConfig(
      ({
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
    assert.equal(config.introspection!.issuer, 'http://idp.example');
    assert.deepEqual(
      [config.introspection!.url, config.introspection!.clientId, config.introspection!.timeoutMs, config.introspection!.cacheMaxTtlSeconds, config.introspection!.negativeTtlSeconds, config.introspection!.cacheMaxEntries],
      ['http://idp:4000/oauth/introspect', 'svc', 500, 10, 1, 50],
    );
  });

  it('reads the secret from INTROSPECTION_CLIENT_SECRET_FILE', () => {
    const file = join(mkdtempSync(join(tmpdir(), 'service-api-')), 'secret');
    writeFileSync(file, 'from-file\n');
    assert.equal(loadConfig({ INTROSPECTION_CLIENT_SECRET_FILE: file }).introspection?.clientSecret, 'from-file');
  });

  it('reads the JWT settings; the JWKS URL defaults to the issuer\'s', () => {
    const config = loadConfig(
      ({
        INTROSPECTION_CLIENT_SECRET: 'x',
        IDP_ISSUER: 'http://idp.example/oauth',
        SERVICE_API_AUDIENCE: 'https://api.example',
        JWKS_COOLDOWN: '1',
        JWKS_CACHE_MAX_AGE: '60',
        JWT_CACHE_MAX_TTL: '7',
        JWKS_TIMEOUT_MS: '700',
      }),
    );
    assert.deepEqual(config.jwt, {
      jwksUrl: 'http://idp.example/oauth/jwks.json',
      issuer: 'http://idp.example/oauth',
      audience: 'https://api.example',
      cooldownSeconds: 1,
      cacheMaxAgeSeconds: 60,
      principalCacheSeconds: 7,
      timeoutMs: 700,
      retryAfterSeconds: 5,
      acceptTokensWithoutAudience: false,
    });
    assert.equal(loadConfig({ INTROSPECTION_CLIENT_SECRET: 'x', IDP_JWKS_URL: 'http://keys.example/jwks' }).jwt?.jwksUrl, 'http://keys.example/jwks');
  });

  it('gives both verifiers the audience of SERVICE_API_AUDIENCE and ACCEPT_TOKENS_WITHOUT_AUDIENCE', () => {
    const config = loadConfig({ INTROSPECTION_CLIENT_SECRET: 'x', SERVICE_API_AUDIENCE: 'https://api.example', ACCEPT_TOKENS_WITHOUT_AUDIENCE: 'true' });
    assert.deepEqual(
      [config.introspection?.audience, config.introspection?.acceptTokensWithoutAudience, config.jwt?.audience, config.jwt?.acceptTokensWithoutAudience],
      ['https://api.example', true, 'https://api.example', true],
    );
    const introspectionOnly = loadConfig({ TOKEN_VERIFICATION: 'introspection', INTROSPECTION_CLIENT_SECRET: 'x' });
    assert.deepEqual([introspectionOnly.introspection?.audience, introspectionOnly.introspection?.acceptTokensWithoutAudience], ['http://localhost:4001', false]);
    assert.equal(loadConfig({ INTROSPECTION_CLIENT_SECRET: 'x', ACCEPT_TOKENS_WITHOUT_AUDIENCE: 'false' }).jwt?.acceptTokensWithoutAudience, false);
  });

  it('TOKEN_VERIFICATION=jwt needs no introspection secret; =introspection configures no JWKS', () => {
    const jwtOnly = loadConfig({ TOKEN_VERIFICATION: 'jwt' });
    assert.equal(jwtOnly.tokenVerification, 'jwt');
    assert.equal(jwtOnly.introspection, undefined);
    assert.equal(jwtOnly.jwt?.audience, 'http://localhost:4001');
    const introspectionOnly = loadConfig({ TOKEN_VERIFICATION: 'introspection', INTROSPECTION_CLIENT_SECRET: 'x' });
    assert.equal(introspectionOnly.jwt, undefined);
    assert.equal(introspectionOnly.introspection?.clientSecret, 'x');
  });

  it('fails naming the variable', () => {
    assert.throws(() => loadConfig({ TOKEN_VERIFICATION: 'local' }), /^TypeError: TOKEN_VERIFICATION must be one of auto, jwt, introspection/);
    assert.throws(() => loadConfig({ TOKEN_VERIFICATION: 'jwt', SERVICE_API_AUDIENCE: 'api' }), /^TypeError: SERVICE_API_AUDIENCE must be an absolute URL/);
    assert.throws(
      () => loadConfig({ TOKEN_VERIFICATION: 'introspection', INTROSPECTION_CLIENT_SECRET: 'x', SERVICE_API_AUDIENCE: 'api' }),
      /^TypeError: SERVICE_API_AUDIENCE must be an absolute URL/,
    );
    assert.throws(() => loadConfig({ INTROSPECTION_CLIENT_SECRET: 'x', ACCEPT_TOKENS_WITHOUT_AUDIENCE: 'yes' }), /^TypeError: ACCEPT_TOKENS_WITHOUT_AUDIENCE must be one of true, false/);
    assert.throws(() => loadConfig({ TOKEN_VERIFICATION: 'jwt', JWKS_COOLDOWN: '-1' }), /^TypeError: JWKS_COOLDOWN must be an integer/);
    assert.throws(() => loadConfig({}), new TypeError('INTROSPECTION_CLIENT_SECRET or INTROSPECTION_CLIENT_SECRET_FILE must be set'));
    assert.throws(
      () => loadConfig({ INTROSPECTION_CLIENT_SECRET: 'x', INTROSPECTION_TIMEOUT_MS: '0' }),
      /^TypeError: INTROSPECTION_TIMEOUT_MS must be an integer/,
    );
    assert.throws(() => loadConfig({ INTROSPECTION_CLIENT_SECRET: 'x', IDP_ISSUER: 'not a url' }), /^TypeError: IDP_ISSUER must be an absolute URL/);
    assert.throws(() => loadConfig({ INTROSPECTION_CLIENT_SECRET: 'x', PORT: '70000' }), /^TypeError: PORT must be an integer/);
  });
});
