import { Env } from '../../lib/env.ts';

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

export interface Config {
  readonly port: number;
  /** Base URL of the Service API, without a trailing slash. */
  readonly serviceApiUrl: string;
  readonly serviceApiTimeoutMs: number;
  readonly serviceToken: ServiceTokenConfig;
}

/**
 * Reads the environment once into a frozen object. Throws a TypeError naming the variable on the
 * first invalid or missing value. Tests pass their own `source`.
 */
export function loadConfig(source: NodeJS.ProcessEnv = process.env): Config {
  const env = new Env(source);
  env.url('IDP_ISSUER', 'http://localhost:4000/oauth');
  const tokenUrl = env.optional('IDP_TOKEN_URL') === undefined ? undefined : env.url('IDP_TOKEN_URL').href;
  const serviceApiUrl = env.url('SERVICE_API_URL', 'http://localhost:4001').href.replace(/\/+$/, '');
  const resource = env.optional('SERVICE_API_RESOURCE');
  if (resource !== undefined && !URL.canParse(resource)) {
    throw new TypeError(`SERVICE_API_RESOURCE must be an absolute URI, got "${resource}"`);
  }
  const scope = env.string('SERVICE_TOKEN_SCOPE', 'service.api');
  if (!/^[\x21\x23-\x5b\x5d-\x7e]+( [\x21\x23-\x5b\x5d-\x7e]+)*$/.test(scope)) {
    throw new TypeError(`SERVICE_TOKEN_SCOPE must be space-separated scope tokens, got "${scope}"`);
  }

  return Object.freeze({
    port: env.port('PORT', 3000),
    serviceApiUrl,
    serviceApiTimeoutMs: 5000,
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
  });
}

let processConfig: Config | undefined;

/** The configuration of this process, read from `process.env` on first use. */
export function getConfig(): Config {
  return (processConfig ??= loadConfig());
}
