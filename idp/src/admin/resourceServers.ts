import { readJsonObject } from '../body.ts';
import { HttpError, notFound } from '../errors.ts';
import { assertScopesFree, isResourceIdentifier, parseResourceServer } from '../resourceServers.ts';
import { routeTable } from '../routing.ts';
import type { Store } from '../store/types.ts';

/** Decodes a path segment, or undefined when its percent-encoding is malformed. */
function decoded(segment: string): string | undefined {
  try {
    return decodeURIComponent(segment);
  } catch {
    return undefined;
  }
}

/**
 * `POST|GET /resource-servers`, `GET|PUT|DELETE /resource-servers/:identifier` (percent-encoded).
 * Deleting a resource server leaves its clients' scope lists as they are: those scopes are then
 * declared by nobody and granted to nobody, and a client listing them must drop them to be updated.
 */
export function resourceServerRoutes(store: Store, now = () => Math.floor(Date.now() / 1000)) {
  const servers = store.resourceServers;

  async function find(identifier: string) {
    const server = await servers.find(identifier);
    if (!server) throw notFound(`no resource server "${identifier}"`);
    return server;
  }

  return routeTable()
    // An identifier that cannot exist never reaches the store; @koa/router hands on a segment it
    // cannot decode as it is, so the raw capture tells malformed encoding apart.
    .param('identifier', (identifier, ctx, next) => {
      if (decoded(ctx.captures?.[0] ?? '') === undefined) throw notFound('malformed resource server identifier in path');
      if (!isResourceIdentifier(identifier)) throw notFound(`no resource server "${identifier}"`);
      return next();
    })
    .get('/resource-servers', async (ctx) => {
      ctx.body = { resource_servers: await servers.list() };
    })
    .post('/resource-servers', async (ctx) => {
      const server = parseResourceServer(await readJsonObject(ctx), now());
      await assertScopesFree(servers, server);
      if (!(await servers.create(server))) {
        throw new HttpError(409, 'invalid_request', `a resource server "${server.identifier}" already exists`);
      }
      ctx.status = 201;
      ctx.set('Location', `${ctx.path}/${encodeURIComponent(server.identifier)}`);
      ctx.body = server;
    })
    .get('/resource-servers/:identifier', async (ctx) => {
      ctx.body = await find(ctx.params.identifier!);
    })
    // Creates (201) or replaces (200): what the seed uses to apply a changed declaration in place.
    .put('/resource-servers/:identifier', async (ctx) => {
      const identifier = ctx.params.identifier!;
      const server = parseResourceServer(await readJsonObject(ctx), now(), identifier);
      await assertScopesFree(servers, server);
      if (await servers.replace(server)) {
        ctx.body = await find(identifier);
        return;
      }
      if (!(await servers.create(server))) throw new HttpError(409, 'invalid_request', `resource server "${identifier}" was created concurrently; retry`);
      ctx.status = 201;
      ctx.body = server;
    })
    .delete('/resource-servers/:identifier', async (ctx) => {
      const { identifier } = ctx.params;
      if (!(await servers.remove(identifier!))) throw notFound(`no resource server "${identifier}"`);
      ctx.status = 204;
    });
}
