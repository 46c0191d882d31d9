import { errors, type Configuration, type KoaContextWithOIDC } from 'oidc-provider';
import type { IdpConfig } from './config.ts';
import { isOidcScope, scopeOwners } from './resourceServers.ts';
import type { ResourceServerStore, StoredResourceServer } from './store/types.ts';

type Client = NonNullable<KoaContextWithOIDC['oidc']['client']>;
type Feature = NonNullable<NonNullable<Configuration['features']>['resourceIndicators']>;

const requestedScopes = (ctx: KoaContextWithOIDC) => String(ctx.oidc.params?.scope ?? '').split(' ').filter(Boolean);
/** The resource-server scopes a client was registered with (admin API `scopes`, stored apart from OIDC ones). */
export const resourceScopesOf = (client: Client) => (client.metadata().resource_scopes as string[] | undefined) ?? [];

/**
 * RFC 8707 with the resource servers of the store. Every access token for a resource server's scope is
 * bound to it: a request that names `resource` gets that one; one that does not, and whose
 * resource-server scopes all belong to one resource server, gets that one; one that asks for none
 * gets the stack's own Service API (SERVICE_API_AUDIENCE) when it is declared. The resource server
 * decides the token's audience, format and lifetime; a client gets only the scopes it was registered
 * with. Read from the store on every request, so every replica sees a change at once.
 */
export function resourceIndicators(config: Pick<IdpConfig, 'accessTokenFormat' | 'serviceApiAudience' | 'accessTokenTtl' | 'clientCredentialsTtl'>, servers: ResourceServerStore): Feature {
  return {
    enabled: true,
    async defaultResource(ctx, _client, oneOf) {
      const owners = await scopeOwners(servers);
      const wanted = new Set(requestedScopes(ctx).filter((scope) => !isOidcScope(scope)).flatMap((scope) => owners.get(scope)?.identifier ?? []));
      if (oneOf) return oneOf.find((identifier) => wanted.has(identifier)) ?? oneOf[0]!;
      if (wanted.size > 1) {
        throw new errors.InvalidTarget(`the requested scopes belong to several resource servers (${[...wanted].join(', ')}); request one with the resource parameter`);
      }
      if (wanted.size === 1) return [...wanted][0]!;
      return (await servers.find(config.serviceApiAudience)) ? config.serviceApiAudience : (undefined as unknown as string);
    },
    useGrantedResource: () => true,
    async getResourceServerInfo(ctx, indicator, client) {
      const server = await servers.find(indicator);
      if (!server) throw new errors.InvalidTarget(`unknown resource server ${indicator}`);
      const allowed = new Set(resourceScopesOf(client ?? ctx.oidc.client!));
      // oidc-provider filters resource scopes silently; a scope the client was not registered with is
      // refused instead, as oidc-provider does for its own (OIDC) scopes.
      for (const scope of requestedScopes(ctx)) {
        if (server.scopes.includes(scope) && !allowed.has(scope)) throw new errors.InvalidScope('requested scope is not allowed', scope);
      }
      const machine = ctx.oidc.params?.grant_type === 'client_credentials';
      return { ...tokenSettings(config, server, machine), scope: server.scopes.filter((scope) => allowed.has(scope)).join(' ') };
    },
  };
}

type TokenSettingsConfig = Pick<IdpConfig, 'accessTokenFormat' | 'accessTokenTtl' | 'clientCredentialsTtl'>;

/** What a resource server decides about its tokens: audience, format (and signing), lifetime. Also used by token exchange. */
export function tokenSettings(config: TokenSettingsConfig, server: StoredResourceServer, machine: boolean) {
  const format = server.access_token_format ?? config.accessTokenFormat;
  return {
    audience: server.identifier,
    accessTokenTTL: server.access_token_ttl ?? (machine ? config.clientCredentialsTtl : config.accessTokenTtl),
    accessTokenFormat: format,
    ...(format === 'jwt' ? { jwt: { sign: { alg: 'RS256' as const } } } : {}),
  };
}
