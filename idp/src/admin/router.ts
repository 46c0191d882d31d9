import { readFileSync } from 'node:fs';
import type { Context, Next } from 'koa';
import type Provider from 'oidc-provider';
import { notFound } from '../errors.ts';
import type { Store } from '../store/types.ts';
import { requireAdminToken } from './auth.ts';
import { clientRoutes, methodNotAllowed } from './clients.ts';
import { userRoutes } from './users.ts';

export const ADMIN_PREFIX = '/api/global/admin';
const openapi = readFileSync(new URL('./openapi.json', import.meta.url), 'utf8');

/** The admin API: every route but the OpenAPI document needs the admin bearer token. */
export function adminApi(provider: Provider, store: Store, adminToken: string) {
  const authenticate = requireAdminToken(adminToken);
  const clients = clientRoutes(provider, store);
  const users = userRoutes(store);

  return async (ctx: Context, next: Next) => {
    if (ctx.path !== ADMIN_PREFIX && !ctx.path.startsWith(`${ADMIN_PREFIX}/`)) return next();
    ctx.set('Cache-Control', 'no-store');
    const path = ctx.path.slice(ADMIN_PREFIX.length);
    if (path === '/openapi.json') {
      if (ctx.method !== 'GET' && ctx.method !== 'HEAD') methodNotAllowed('GET');
      ctx.type = 'application/json';
      ctx.body = openapi;
      return;
    }
    await authenticate(ctx, async () => {
      if (path === '/clients') {
        if (ctx.method === 'POST') return clients.create(ctx);
        if (ctx.method === 'GET') return clients.list(ctx);
        methodNotAllowed('GET, POST');
      }
      if (path === '/users') {
        if (ctx.method === 'POST') return users.create(ctx);
        if (ctx.method === 'GET') return users.list(ctx);
        methodNotAllowed('GET, POST');
      }
      const user = /^\/users\/([a-z0-9._-]+)$/.exec(path);
      if (user) {
        if (ctx.method === 'GET') return users.get(ctx, user[1]!);
        if (ctx.method === 'DELETE') return users.remove(ctx, user[1]!);
        methodNotAllowed('GET, DELETE');
      }
      const match = /^\/clients\/([^/]+)(\/secret)?$/.exec(path);
      if (!match) throw notFound(`no admin route ${ctx.method} ${ctx.path}`);
      let clientId: string;
      try {
        clientId = decodeURIComponent(match[1]!);
      } catch {
        throw notFound('malformed client id in path');
      }
      if (match[2]) {
        if (ctx.method === 'POST') return clients.rotateSecret(ctx, clientId);
        methodNotAllowed('POST');
      }
      if (ctx.method === 'GET') return clients.get(ctx, clientId);
      if (ctx.method === 'DELETE') return clients.remove(ctx, clientId);
      methodNotAllowed('GET, DELETE');
    });
  };
}
