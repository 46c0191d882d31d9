import { randomBytes } from 'node:crypto';
import type Provider from 'oidc-provider';
import type { AdapterPayload } from 'oidc-provider';
import { HttpError, invalidClientMetadata, notFound } from '../errors.ts';
import { isOidcScope, isResourceIdentifier, OIDC_SCOPES, scopeOwners } from '../resourceServers.ts';
import type { Store, StoredResourceServer } from '../store/types.ts';
import { readJsonObject } from '../body.ts';
import { routeTable } from '../routing.ts';
import { TOKEN_EXCHANGE_GRANT } from '../tokenExchange.ts';

/** The grant types a client may be registered for. */
export const GRANT_TYPES = ['client_credentials', 'authorization_code', 'refresh_token', TOKEN_EXCHANGE_GRANT] as const;
const OFFERED_GRANT_TYPES = new Set<string>(GRANT_TYPES);
const FIELDS = new Set(['name', 'redirect_uris', 'post_logout_redirect_uris', 'grant_types', 'scopes', 'introspects', 'token_exchange', 'managed_by']);
const MANAGED_BY = /^[a-z0-9][a-z0-9-]{0,31}$/;
const CLIENT_ID = /^[A-Za-z0-9][A-Za-z0-9._~-]{0,99}$/;

export type ClientView = {
  client_id: string;
  name: string;
  redirect_uris: string[];
  post_logout_redirect_uris: string[];
  grant_types: string[];
  scopes: string[];
  /** Resource servers whose tokens this client may introspect (RFC 7662 §4), besides its own tokens. */
  introspects: string[];
  /** RFC 8693: the resource servers it may exchange its resource servers' user tokens for; only when set. */
  token_exchange?: { audiences: string[] };
  /** `"seed"` for clients the seed file declares (only those are pruned), else null. */
  managed_by: string | null;
  token_endpoint_auth_method: string;
  client_id_issued_at: number;
};

const newSecret = () => randomBytes(32).toString('base64url');

/** The admin view of stored metadata: never the secret. */
export function view(metadata: AdapterPayload): ClientView {
  return {
    client_id: metadata.client_id as string,
    name: (metadata.client_name as string) ?? (metadata.client_id as string),
    redirect_uris: (metadata.redirect_uris as string[]) ?? [],
    post_logout_redirect_uris: (metadata.post_logout_redirect_uris as string[]) ?? [],
    grant_types: (metadata.grant_types as string[]) ?? [],
    scopes: shownScopes([...(typeof metadata.scope === 'string' ? metadata.scope.split(' ') : []), ...((metadata.resource_scopes as string[]) ?? [])]),
    introspects: (metadata.introspects as string[]) ?? [],
    ...(metadata.token_exchange ? { token_exchange: metadata.token_exchange as { audiences: string[] } } : {}),
    managed_by: (metadata.managed_by as string) ?? null,
    token_endpoint_auth_method: (metadata.token_endpoint_auth_method as string) ?? 'client_secret_basic',
    client_id_issued_at: metadata.client_id_issued_at as number,
  };
}

/**
 * The scopes the admin API shows for a registration. A client without OIDC scopes is stored with
 * `openid` (oidc-provider would otherwise allow it every OIDC scope); that placeholder is shown only
 * when it is the client's one scope, as it grants no API permission.
 */
export function shownScopes(registered: readonly string[]): string[] {
  const unique = [...new Set(registered)];
  if (unique.length === 0) return ['openid'];
  const oidc = unique.filter(isOidcScope);
  return oidc.length === 1 && oidc[0] === 'openid' && unique.length > 1 ? unique.filter((scope) => scope !== 'openid') : unique;
}

function stringArray(body: Record<string, unknown>, field: string): string[] {
  const value = body[field] === undefined ? [] : body[field];
  if (!Array.isArray(value) || value.some((v) => typeof v !== 'string')) {
    throw invalidClientMetadata(`${field} must be an array of strings`);
  }
  return [...new Set(value as string[])];
}

/**
 * Turns the admin API's registration body (openapi.json) into oidc-provider client metadata, or a 400 that says why.
 * OpenID Connect scopes go to oidc-provider's `scope`; resource servers' scopes to `resource_scopes`
 * (oidc-provider checks `scope` against its static list, and leaves resource scopes to
 * getResourceServerInfo, which grants a client only the ones listed here). A scope no resource server
 * declares is refused: oidc-provider would drop it from every token silently.
 */
export function toMetadata(body: Record<string, unknown>, now: number, owners: ReadonlyMap<string, StoredResourceServer>): AdapterPayload {
  for (const key of Object.keys(body)) {
    if (!FIELDS.has(key)) throw invalidClientMetadata(`unknown field "${key}"; allowed: ${[...FIELDS].join(', ')}`);
  }
  const { name } = body;
  if (typeof name !== 'string' || !CLIENT_ID.test(name)) {
    throw invalidClientMetadata('name must be 1-100 characters of A-Z a-z 0-9 . _ ~ - (it becomes the client_id)');
  }
  const grantTypes = body.grant_types === undefined ? ['client_credentials'] : stringArray(body, 'grant_types');
  if (grantTypes.length === 0) throw invalidClientMetadata('grant_types must not be empty');
  for (const grant of grantTypes) {
    if (!OFFERED_GRANT_TYPES.has(grant)) throw invalidClientMetadata(`unsupported grant type "${grant}"; allowed: ${GRANT_TYPES.join(', ')}`);
  }
  const scopes = stringArray(body, 'scopes');
  scopes.forEach((scope, i) => {
    if (!isOidcScope(scope) && !owners.has(scope)) {
      throw invalidClientMetadata(`scopes[${i}]: "${scope}" is not declared by any resource server (nor an OpenID Connect scope: ${OIDC_SCOPES.join(' ')})`);
    }
  });
  const declared = new Set([...owners.values()].map((server) => server.identifier));
  const introspects = stringArray(body, 'introspects');
  introspects.forEach((identifier, i) => {
    if (!isResourceIdentifier(identifier) || !declared.has(identifier)) throw invalidClientMetadata(`introspects[${i}]: "${identifier}" is not a declared resource server`);
  });
  const managedBy = body.managed_by ?? null;
  if (managedBy !== null && (typeof managedBy !== 'string' || !MANAGED_BY.test(managedBy))) {
    throw invalidClientMetadata('managed_by must be 1-32 characters of a-z 0-9 - (or null)');
  }
  const exchangeAudiences = tokenExchangeAudiences(body.token_exchange, declared, grantTypes);
  const oidcScopes = scopes.filter(isOidcScope);
  const resourceScopes = scopes.filter((scope) => !isOidcScope(scope));
  const redirectUris = stringArray(body, 'redirect_uris');
  const postLogoutRedirectUris = stringArray(body, 'post_logout_redirect_uris');
  // Redirect URIs are compared literally, so `http://*.evil.test/cb` matches nothing but itself — yet
  // it reads as a wildcard to whoever reviews the client, and other servers do expand it. Refused.
  for (const [field, uris] of [['redirect_uris', redirectUris], ['post_logout_redirect_uris', postLogoutRedirectUris]] as const) {
    uris.forEach((uri, i) => {
      if (uri.includes('*')) throw invalidClientMetadata(`${field}[${i}] must not contain "*": redirect URIs are exact, there are no wildcards`);
    });
  }
  return {
    client_id: name,
    client_name: name,
    client_id_issued_at: now,
    grant_types: grantTypes,
    response_types: grantTypes.includes('authorization_code') ? ['code'] : [],
    redirect_uris: redirectUris,
    post_logout_redirect_uris: postLogoutRedirectUris,
    // oidc-provider lets a client with no `scope` metadata ask for every scope: a client registered
    // with none may ask for `openid` only, which grants no API permission.
    scope: oidcScopes.length ? oidcScopes.join(' ') : 'openid',
    ...(resourceScopes.length ? { resource_scopes: resourceScopes } : {}),
    ...(introspects.length ? { introspects } : {}),
    ...(exchangeAudiences.length ? { token_exchange: { audiences: exchangeAudiences } } : {}),
    ...(managedBy !== null ? { managed_by: managedBy } : {}),
    token_endpoint_auth_method: 'client_secret_basic',
  };
}

/**
 * `token_exchange: {"audiences": [...]}`: the declared resource servers the client may exchange
 * tokens for. Audiences and the token-exchange grant type go together: one without the other is a
 * registration that cannot work as its author meant.
 */
function tokenExchangeAudiences(value: unknown, declared: ReadonlySet<string>, grantTypes: readonly string[]): string[] {
  let audiences: string[] = [];
  if (value !== undefined && value !== null) {
    if (typeof value !== 'object' || Array.isArray(value)) throw invalidClientMetadata('token_exchange must be an object {"audiences": [...]}');
    for (const key of Object.keys(value)) if (key !== 'audiences') throw invalidClientMetadata(`token_exchange: unknown field "${key}"; allowed: audiences`);
    audiences = stringArray(value as Record<string, unknown>, 'audiences');
    audiences.forEach((identifier, i) => {
      if (!declared.has(identifier)) throw invalidClientMetadata(`token_exchange.audiences[${i}]: "${identifier}" is not a declared resource server`);
    });
  }
  const granted = grantTypes.includes(TOKEN_EXCHANGE_GRANT);
  if (audiences.length && !granted) throw invalidClientMetadata(`token_exchange needs the grant type ${TOKEN_EXCHANGE_GRANT} in grant_types`);
  if (granted && !audiences.length) throw invalidClientMetadata(`the grant type ${TOKEN_EXCHANGE_GRANT} needs token_exchange.audiences (the resource servers it may exchange tokens for)`);
  return audiences;
}

/** Decodes a path segment, or undefined when its percent-encoding is malformed. */
function decoded(segment: string): string | undefined {
  try {
    return decodeURIComponent(segment);
  } catch {
    return undefined;
  }
}

/** `POST /clients`, `GET /clients`, `GET|PUT|DELETE /clients/:clientId`, `POST /clients/:clientId/secret`. */
export function clientRoutes(provider: Provider, store: Store, now = () => Math.floor(Date.now() / 1000)) {
  const stored = store.adapter('Client');
  // oidc-provider's own schema checks (redirect URI syntax, grant/response type coherence).
  async function validate(metadata: AdapterPayload): Promise<void> {
    try {
      await provider.Client.validate(metadata as never);
    } catch (err) {
      const e = err as { error?: string; error_description?: string };
      if (e.error === 'invalid_client_metadata' || e.error === 'invalid_redirect_uri') {
        throw invalidClientMetadata(e.error_description ?? 'invalid client metadata');
      }
      throw err;
    }
  }

  async function find(clientId: string): Promise<AdapterPayload> {
    const metadata = await stored.find(clientId);
    if (!metadata) throw notFound(`no client "${clientId}"`);
    return metadata;
  }

  return routeTable()
    // A client id that cannot exist never reaches the store. @koa/router hands on a segment it cannot
    // decode as it is, so the raw capture tells malformed encoding apart.
    .param('clientId', (clientId, ctx, next) => {
      if (decoded(ctx.captures?.[0] ?? '') === undefined) throw notFound('malformed client id in path');
      if (!CLIENT_ID.test(clientId)) throw notFound(`no client "${clientId}"`);
      return next();
    })
    .get('/clients', async (ctx) => {
      ctx.body = { clients: (await store.listClients()).map(view) };
    })
    .post('/clients', async (ctx) => {
      const metadata = toMetadata(await readJsonObject(ctx), now(), await scopeOwners(store.resourceServers));
      const secret = newSecret();
      const client = { ...metadata, client_secret: secret };
      await validate(client);
      // `Solutrix-Web` next to `solutrix-web` would look like one client on a consent page or in a log.
      // (A check before the insert: two concurrent look-alike registrations can both pass; the exact
      // name stays unique in the store.)
      const clientId = metadata.client_id as string;
      const lookAlike = (await store.listClients()).find((c) => (c.client_id as string).toLowerCase() === clientId.toLowerCase() && c.client_id !== clientId);
      if (lookAlike) {
        throw new HttpError(409, 'invalid_client_metadata', `a client named "${lookAlike.client_id}" already exists; names that differ only in case are refused`);
      }
      if (!(await store.createClient(metadata.client_id as string, client))) {
        throw new HttpError(409, 'invalid_client_metadata', `a client named "${metadata.client_id}" already exists`);
      }
      ctx.status = 201;
      ctx.set('Location', `${ctx.path}/${encodeURIComponent(metadata.client_id as string)}`);
      ctx.body = { ...view(client), client_secret: secret };
    })
    .get('/clients/:clientId', async (ctx) => {
      ctx.body = view(await find(ctx.params.clientId!));
    })
    // Replaces a client's metadata and keeps its secret, so a running service keeps authenticating (the
    // seed applies a changed declaration this way). Tokens already issued keep their scopes.
    .put('/clients/:clientId', async (ctx) => {
      const clientId = ctx.params.clientId!;
      const existing = await find(clientId);
      const body = await readJsonObject(ctx);
      if (body.name !== undefined && body.name !== clientId) throw invalidClientMetadata('name cannot change (it is the client_id); register a new client instead');
      const metadata = toMetadata({ ...body, name: clientId }, existing.client_id_issued_at as number, await scopeOwners(store.resourceServers));
      const client = { ...metadata, client_secret: existing.client_secret };
      await validate(client);
      await stored.upsert(clientId, client);
      ctx.body = view(client);
    })
    .delete('/clients/:clientId', async (ctx) => {
      const { clientId } = ctx.params;
      if (!(await store.deleteClient(clientId!))) throw notFound(`no client "${clientId}"`);
      ctx.status = 204;
    })
    .post('/clients/:clientId/secret', async (ctx) => {
      const clientId = ctx.params.clientId!;
      const rotated = { ...(await find(clientId)), client_secret: newSecret() };
      await stored.upsert(clientId, rotated);
      ctx.body = { ...view(rotated), client_secret: rotated.client_secret };
    });
}
