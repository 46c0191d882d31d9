import { HttpError } from '../errors.ts';
import type { ResourceServerStore, Store, StoredResourceServer } from '../store/types.ts';

/** The scope of the SSF stream management and poll endpoints (SSF-CONTRACT.md). */
export const SSF_SCOPE = 'ssf.manage';

/** The resource identifier (and so the token audience) of the SSF endpoints: `<issuer origin>/ssf`. */
export const ssfAudience = (issuer: string) => `${new URL(issuer).origin}/ssf`;

/**
 * The IDP's own resource server: its SSF endpoints. Built in rather than stored, so it exists on every
 * store and replica from the first start, before any seed, and no admin call can take its scope away.
 * Always opaque: the SSF endpoints look their tokens up in the IDP's own store.
 */
export function ssfResourceServer(issuer: string): StoredResourceServer {
  return {
    identifier: ssfAudience(issuer),
    scopes: [SSF_SCOPE],
    access_token_format: 'opaque',
    access_token_ttl: null,
    managed_by: 'idp',
    created_at: 0,
  };
}

const builtIn = (identifier: string) => new HttpError(409, 'invalid_request', `resource server "${identifier}" is built into the IDP and cannot be changed`);

/**
 * The store's resource servers with `server` among them: found, listed (first) and owning its scopes
 * like any other, but never written. A stored one with the same identifier is shadowed.
 */
export function withBuiltInResourceServer(servers: ResourceServerStore, server: StoredResourceServer): ResourceServerStore {
  const isBuiltIn = (identifier: string) => identifier === server.identifier;
  return {
    async create(candidate) {
      if (isBuiltIn(candidate.identifier)) return false;
      return servers.create(candidate);
    },
    async replace(candidate) {
      if (isBuiltIn(candidate.identifier)) throw builtIn(candidate.identifier);
      return servers.replace(candidate);
    },
    async find(identifier) {
      return isBuiltIn(identifier) ? { ...server } : servers.find(identifier);
    },
    async list() {
      return [{ ...server }, ...(await servers.list()).filter((stored) => !isBuiltIn(stored.identifier))];
    },
    async remove(identifier) {
      if (isBuiltIn(identifier)) throw builtIn(identifier);
      return servers.remove(identifier);
    },
  };
}

/** `store` whose resource servers include the SSF one. */
export const withSsfResourceServer = (store: Store, issuer: string): Store => ({
  ...store,
  resourceServers: withBuiltInResourceServer(store.resourceServers, ssfResourceServer(issuer)),
});
