import { readFileSync } from 'node:fs';
import type { Context, Middleware, Next } from 'koa';
import compose from 'koa-compose';
import type Provider from 'oidc-provider';
import { notFound } from '../errors.ts';
import { refuseOtherMethods, routeTable } from '../routing.ts';
import type { Store } from '../store/types.ts';
import { requireAdminToken } from './auth.ts';
import { clientRoutes } from './clients.ts';
import { resourceServerRoutes } from './resourceServers.ts';
import { userRoutes } from './users.ts';

export const ADMIN_PREFIX = '/api/global/admin';
const openapi = readFileSync(new URL('./openapi.json', import.meta.url), 'utf8');

const isAdminPath = (path: string) => path === ADMIN_PREFIX || path.startsWith(`${ADMIN_PREFIX}/`);

/** The admin API: every route but the OpenAPI document needs the admin bearer token. */
export function adminApi(provider: Provider, store: Store, adminToken: string, clientAddress: (ctx: Context) => string): Middleware {
  const documentation = routeTable().get('/openapi.json', (ctx) => {
    ctx.type = 'application/json';
    ctx.body = openapi;
  });
  const routes = compose<Context>([
    (ctx, next) => {
      ctx.set('Cache-Control', 'no-store');
      return next();
    },
    // The document is public, and so is the answer to a wrong method on it.
    documentation.prefix(ADMIN_PREFIX).routes(),
    refuseOtherMethods,
    // Anything else, even an unknown path or a wrong method, is answered only to the admin.
    requireAdminToken(adminToken, { clientAddress }),
    clientRoutes(provider, store).prefix(ADMIN_PREFIX).routes(),
    resourceServerRoutes(store).prefix(ADMIN_PREFIX).routes(),
    userRoutes(store).prefix(ADMIN_PREFIX).routes(),
    refuseOtherMethods,
    (ctx) => {
      throw notFound(`no admin route ${ctx.method} ${ctx.path}`);
    },
  ] as Middleware[]);
  return (ctx: Context, next: Next) => (isAdminPath(ctx.path) ? routes(ctx) : next());
}
