import Router, { type RouterContext } from '@koa/router';
import type { Next } from 'koa';
import { methodNotAllowed } from './errors.ts';

/** A route table that matches paths as written: `/clients/` and `/Clients` are not `/clients`. */
export const routeTable = () => new Router({ strict: true, sensitive: true });

/**
 * Placed after route tables, reached only when none of them took the request: a path they serve under
 * other methods is a 405 naming those methods; any other path goes on. HEAD comes with every GET route
 * and is not listed, as in the OpenAPI document.
 */
export function refuseOtherMethods(ctx: RouterContext, next: Next) {
  const allowed = new Set((ctx.matched ?? []).flatMap((layer) => layer.methods).filter((method) => method !== 'HEAD'));
  if (allowed.size > 0) methodNotAllowed([...allowed].join(', '));
  return next();
}
