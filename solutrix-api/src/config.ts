import { ConfigError, Env, type LogLevel } from '../../lib/env.ts';
import { parseMetricsAllow, type MetricsAccess } from '../../lib/metrics.ts';

/** Where and how Solutrix-API asks the IDP for its own (client_credentials) access token. */
export interface ServiceTokenConfig {
  /** Issuer identifier; discovery runs against `${issuer}/.well-known/openid-configuration`. */
  readonly issuer: string;
  /** When set, the token endpoint is used as is and no discovery request is ever made. */
  readonly tokenUrl: string | undefined;
  readonly clientId: string;
  readonly clientSecret: string;
  readonly scope: string;
  /** RFC 8707 resource indicator; unset means opaque tokens for any audience. */
  readonly resource: string | undefined;
  readonly timeoutSeconds: number;
}

/** The end-user web login (BFF). Enabled when the web client's secret is configured. */
export interface WebConfig {
  /** Public origin of Solutrix as the browser sees it, e.g. `http://localhost:3000` (no trailing slash). */
  readonly publicUrl: string;
  readonly issuer: string;
  /**
   * Origin for server-to-IDP requests (discovery, token, userinfo, revocation) when the issuer's own
   * origin is not reachable from here (containers); browser redirects keep the issuer's origin.
   */
  readonly idpBackchannelUrl: string | undefined;
  readonly clientId: string;
  readonly clientSecret: string;
  readonly scope: string;
  /** Signs the session cookie; `undefined` means one is generated at start (sessions die with the process). */
  readonly sessionSecret: string | undefined;
  readonly sessionIdleTimeoutSeconds: number;
  readonly maxSessions: number;
  readonly timeoutSeconds: number;
}

export interface Config {
  readonly port: number;
  /** Listen address (`HOST`); all interfaces when unset. `npm start` sets 127.0.0.1. */
  readonly host?: string;
  readonly logLevel: LogLevel;
  /** Base URL of the Service API, without a trailing slash. */
  readonly serviceApiUrl: string;
  readonly serviceApiTimeoutMs: number;
  /** Who may read GET /metrics besides loopback (`METRICS_ALLOW`: IPs and CIDR blocks). */
  readonly metricsAllow: MetricsAccess;
  readonly serviceToken: ServiceTokenConfig;
  /** Absent when WEB_CLIENT_SECRET / WEB_CLIENT_SECRET_FILE is unset: the web login is then off. */
  readonly web?: WebConfig;
}

/** Reads and validates the environment once into a frozen object; every failure is a ConfigError naming the variable. */
export function loadConfig(source: NodeJS.ProcessEnv = process.env): Config {
  const env = new Env(source);
  env.url('IDP_ISSUER', 'http://localhost:4000/oauth');
  const tokenUrl = env.optional('IDP_TOKEN_URL') === undefined ? undefined : env.url('IDP_TOKEN_URL').href;
  const serviceApiUrl = env.url('SERVICE_API_URL', 'http://localhost:4001').href.replace(/\/+$/, '');
  const resource = env.optional('SERVICE_API_RESOURCE');
  if (resource !== undefined && !URL.canParse(resource)) {
    throw new ConfigError('SERVICE_API_RESOURCE', `SERVICE_API_RESOURCE must be an absolute URI, got "${resource}"`);
  }
  const scope = env.string('SERVICE_TOKEN_SCOPE', 'service.api');
  if (!/^[\x21\x23-\x5b\x5d-\x7e]+( [\x21\x23-\x5b\x5d-\x7e]+)*$/.test(scope)) {
    throw new ConfigError('SERVICE_TOKEN_SCOPE', `SERVICE_TOKEN_SCOPE must be space-separated scope tokens, got "${scope}"`);
  }

  const port = env.port('PORT', 3000);
  const web = loadWebConfig(env, port);

  const host = env.optional('HOST');
  return Object.freeze({
    port,
    ...(host === undefined ? {} : { host }),
    logLevel: env.logLevel(),
    serviceApiUrl,
    serviceApiTimeoutMs: 5000,
    metricsAllow: parseMetricsAllow(env.optional('METRICS_ALLOW')),
    serviceToken: Object.freeze({
      // Kept as written: the issuer is compared with the discovered `issuer` string.
      issuer: env.string('IDP_ISSUER', 'http://localhost:4000/oauth'),
      tokenUrl,
      clientId: env.string('IDP_CLIENT_ID', 'solutrix-api'),
      clientSecret: env.requiredSecret('IDP_CLIENT_SECRET'),
      scope,
      resource,
      timeoutSeconds: 5,
    }),
    ...(web === undefined ? {} : { web }),
  });
}

const WEB_SCOPE = 'openid profile email offline_access service.api';

function loadWebConfig(env: Env, port: number): WebConfig | undefined {
  const clientSecret = env.secret('WEB_CLIENT_SECRET');
  if (clientSecret === undefined) {
    if (env.optional('WEB_CLIENT_ID') !== undefined) {
      throw new ConfigError('WEB_CLIENT_SECRET', 'WEB_CLIENT_SECRET or WEB_CLIENT_SECRET_FILE must be set when WEB_CLIENT_ID is set');
    }
    return undefined;
  }
  const publicUrl = env.url('SOLUTRIX_PUBLIC_URL', `http://localhost:${port}`);
  if (publicUrl.pathname !== '/' || publicUrl.search !== '' || publicUrl.hash !== '') {
    throw new ConfigError('SOLUTRIX_PUBLIC_URL', `SOLUTRIX_PUBLIC_URL must be an origin without a path, got "${publicUrl.href}"`);
  }
  const backchannel = env.optional('IDP_BACKCHANNEL_URL') === undefined ? undefined : env.url('IDP_BACKCHANNEL_URL').origin;
  const sessionSecret = env.secret('SESSION_SECRET');
  if (sessionSecret !== undefined && sessionSecret.length < 32) {
    throw new ConfigError('SESSION_SECRET', 'SESSION_SECRET must be at least 32 characters');
  }
  return Object.freeze({
    publicUrl: publicUrl.origin,
    issuer: env.string('IDP_ISSUER', 'http://localhost:4000/oauth'),
    idpBackchannelUrl: backchannel,
    clientId: env.string('WEB_CLIENT_ID', 'solutrix-web'),
    clientSecret,
    scope: WEB_SCOPE,
    sessionSecret,
    sessionIdleTimeoutSeconds: env.integer('SESSION_IDLE_TIMEOUT', 8 * 3600, { min: 60 }),
    maxSessions: env.integer('SESSION_MAX', 10_000, { min: 1 }),
    timeoutSeconds: 5,
  });
}

