import type { Middleware } from 'koa';
import type Provider from 'oidc-provider';
import { Counter, Histogram, type Registry } from 'prom-client';
import { ADMIN_PREFIX } from './admin/router.ts';

/** ctx.state key the introspection policy sets when it refuses the caller (see provider.ts). */
export const INTROSPECTION_REFUSED = 'introspectionRefused';

const GRANT_TYPES = new Set(['authorization_code', 'refresh_token', 'client_credentials', 'urn:ietf:params:oauth:grant-type:device_code']);

export type IdpMetrics = {
  /** Counts tokens as oidc-provider issues them. */
  observeProvider(provider: Provider): void;
  /** Introspection and revocation results, by the answer oidc-provider gave (mounted at `mountPath`). */
  endpoints(mountPath: string): Middleware;
  /** Admin API calls by route template, method and status. */
  admin(): Middleware;
};

/** The IDP's metrics in `registry`. Labels are fixed sets: never a token, a secret, a user name or a raw path. */
export function idpMetrics(registry: Registry): IdpMetrics {
  const registers = [registry];
  const issued = new Counter({
    name: 'idp_tokens_issued_total',
    help: 'Tokens issued, by grant type, token type and format (opaque: stored; jwt: self-contained)',
    labelNames: ['grant_type', 'token_type', 'format'] as const,
    registers,
  });
  const grants = new Counter({
    name: 'idp_grants_total',
    help: 'Successful token endpoint requests, by grant type',
    labelNames: ['grant_type'] as const,
    registers,
  });
  const introspections = new Counter({
    name: 'idp_introspections_total',
    help: 'Introspection requests by result: active, inactive, refused (caller not authenticated or not allowed), error',
    labelNames: ['result'] as const,
    registers,
  });
  const revocations = new Counter({
    name: 'idp_revocations_total',
    help: 'Revocation requests by result: ok (RFC 7009: also for unknown tokens), refused (client authentication or policy), error',
    labelNames: ['result'] as const,
    registers,
  });
  const admin = new Counter({
    name: 'idp_admin_requests_total',
    help: 'Admin API requests by route template, method and status',
    labelNames: ['route', 'method', 'status'] as const,
    registers,
  });
  const grantType = (value: unknown) => (typeof value === 'string' && GRANT_TYPES.has(value) ? value : 'other');

  return {
    observeProvider(provider) {
      // The model events are typed loosely in @types/oidc-provider: listen through EventEmitter's own signature.
      const on = provider.on.bind(provider) as unknown as (event: string, listener: (arg: never) => void) => void;
      // `saved`: an opaque token was stored; `issued`: a JWT was signed (never stored).
      for (const [event, tokenType, format] of [
        ['access_token.saved', 'access_token', 'opaque'],
        ['access_token.issued', 'access_token', 'jwt'],
        ['client_credentials.saved', 'access_token', 'opaque'],
        ['client_credentials.issued', 'access_token', 'jwt'],
        ['refresh_token.saved', 'refresh_token', 'opaque'],
      ] as const) {
        on(event, (token: { gty?: string }) => {
          issued.inc({ grant_type: event.startsWith('client_credentials') ? 'client_credentials' : grantType(token.gty?.split(' ').at(-1)), token_type: tokenType, format });
        });
      }
      on('grant.success', (ctx: { oidc?: { params?: { grant_type?: unknown } } }) => grants.inc({ grant_type: grantType(ctx.oidc?.params?.grant_type) }));
    },
    endpoints(mountPath) {
      const base = mountPath === '/' ? '' : mountPath;
      const introspect = `${base}/introspect`;
      const revoke = `${base}/revoke`;
      return async (ctx, next) => {
        const path = ctx.path;
        if (ctx.method !== 'POST' || (path !== introspect && path !== revoke)) return next();
        try {
          await next();
        } finally {
          const status = ctx.status;
          const refused = status === 400 || status === 401 || ctx.state[INTROSPECTION_REFUSED] === true;
          if (path === introspect) {
            const active = (ctx.body as { active?: unknown } | undefined)?.active === true;
            introspections.inc({ result: status >= 500 ? 'error' : refused ? 'refused' : status === 200 ? (active ? 'active' : 'inactive') : 'error' });
          } else {
            revocations.inc({ result: status >= 500 ? 'error' : status === 200 ? 'ok' : refused ? 'refused' : 'error' });
          }
        }
      };
    },
    admin() {
      return async (ctx, next) => {
        if (ctx.path !== ADMIN_PREFIX && !ctx.path.startsWith(`${ADMIN_PREFIX}/`)) return next();
        const route = adminRoute(ctx.path.slice(ADMIN_PREFIX.length));
        try {
          await next();
        } finally {
          admin.inc({ route, method: ctx.method, status: String(ctx.status) });
        }
      };
    },
  };
}

/** The admin API's route templates: ids and user names never become label values. */
export function adminRoute(path: string): string {
  if (path === '/openapi.json' || path === '/clients' || path === '/users') return path;
  if (/^\/clients\/[^/]+\/secret$/.test(path)) return '/clients/:clientId/secret';
  if (/^\/clients\/[^/]+$/.test(path)) return '/clients/:clientId';
  if (/^\/users\/[^/]+$/.test(path)) return '/users/:username';
  return 'other';
}

/** Store latency (see store/timed.ts), registered by main.ts, which wraps the store it opens. */
export function storeMetrics(registry: Registry): Histogram<'operation' | 'store'> {
  return new Histogram({
    name: 'idp_store_operation_duration_seconds',
    help: 'Store operations by operation (oidc-provider model and method, or Store method) and store',
    labelNames: ['operation', 'store'] as const,
    buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
    registers: [registry],
  });
}
