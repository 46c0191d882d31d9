import { HttpError, invalidRequest } from './errors.ts';
import type { ResourceServerStore, StoredResourceServer } from './store/types.ts';

/** The OpenID Connect scopes: the IDP's own. Every other scope belongs to exactly one resource server. */
export const OIDC_SCOPES = ['openid', 'offline_access', 'profile', 'email'] as const;
const OIDC = new Set<string>(OIDC_SCOPES);

// RFC 6749 §3.3 scope-token, kept short and printable.
const SCOPE = /^[\x21\x23-\x5b\x5d-\x7e]{1,100}$/;
const MANAGED_BY = /^[a-z0-9][a-z0-9-]{0,31}$/;
const FIELDS = new Set(['identifier', 'scopes', 'access_token_format', 'access_token_ttl', 'managed_by']);
const MAX_TTL = 30 * 24 * 3600;

/** RFC 8707 §2: an absolute URI without a fragment. Compared as written: `resource=` must name it exactly. */
export function isResourceIdentifier(value: unknown): value is string {
  return typeof value === 'string' && value.length <= 2000 && URL.canParse(value) && !value.includes('#');
}

export const isOidcScope = (scope: string) => OIDC.has(scope);

/**
 * The admin API's body (`POST /resource-servers`, `PUT /resource-servers/{identifier}`) as a stored
 * resource server, or a 400 naming the field. `identifier` comes from the path for PUT.
 */
export function parseResourceServer(body: Record<string, unknown>, now: number, identifierFromPath?: string): StoredResourceServer {
  for (const key of Object.keys(body)) {
    if (!FIELDS.has(key)) throw invalidRequest(`unknown field "${key}"; allowed: ${[...FIELDS].join(', ')}`);
  }
  if (identifierFromPath !== undefined && body.identifier !== undefined && body.identifier !== identifierFromPath) {
    throw invalidRequest('identifier in the body differs from the one in the path');
  }
  const identifier = identifierFromPath ?? body.identifier;
  if (!isResourceIdentifier(identifier)) throw invalidRequest('identifier must be an absolute URI without a fragment (RFC 8707), e.g. "http://localhost:4001"');
  const { scopes } = body;
  if (!Array.isArray(scopes) || scopes.length === 0 || scopes.some((s) => typeof s !== 'string' || !SCOPE.test(s))) {
    throw invalidRequest('scopes must be a non-empty array of scope tokens (RFC 6749 §3.3)');
  }
  for (const scope of scopes as string[]) {
    if (OIDC.has(scope)) throw invalidRequest(`scopes: "${scope}" is an OpenID Connect scope of the IDP itself, not a resource server's`);
  }
  const format = body.access_token_format ?? null;
  if (format !== null && format !== 'opaque' && format !== 'jwt') throw invalidRequest('access_token_format must be "opaque" or "jwt" (or null for the IDP default, ACCESS_TOKEN_FORMAT)');
  const ttl = body.access_token_ttl ?? null;
  if (ttl !== null && (typeof ttl !== 'number' || !Number.isInteger(ttl) || ttl < 1 || ttl > MAX_TTL)) {
    throw invalidRequest(`access_token_ttl must be an integer number of seconds between 1 and ${MAX_TTL} (or null for the IDP defaults)`);
  }
  const managedBy = body.managed_by ?? null;
  if (managedBy !== null && (typeof managedBy !== 'string' || !MANAGED_BY.test(managedBy))) {
    throw invalidRequest('managed_by must be 1-32 characters of a-z 0-9 - (or null)');
  }
  return {
    identifier,
    scopes: [...new Set(scopes as string[])],
    access_token_format: format,
    access_token_ttl: ttl as number | null,
    managed_by: managedBy as string | null,
    created_at: now,
  };
}

/** Which resource server owns each declared scope. */
export async function scopeOwners(store: ResourceServerStore): Promise<Map<string, StoredResourceServer>> {
  const owners = new Map<string, StoredResourceServer>();
  for (const server of await store.list()) for (const scope of server.scopes) owners.set(scope, server);
  return owners;
}

/** A scope owned by another resource server: one owner per scope keeps the default resource unambiguous. */
export async function assertScopesFree(store: ResourceServerStore, server: StoredResourceServer): Promise<void> {
  const owners = await scopeOwners(store);
  for (const scope of server.scopes) {
    const owner = owners.get(scope);
    if (owner && owner.identifier !== server.identifier) {
      throw new HttpError(409, 'invalid_request', `scopes: "${scope}" is already declared by resource server ${owner.identifier}`);
    }
  }
}
