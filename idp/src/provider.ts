import Provider, { errors, type Configuration, type KoaContextWithOIDC } from 'oidc-provider';
import type { IdpConfig } from './config.ts';
import { INTROSPECTION_REFUSED } from './metrics.ts';
import type { Secrets } from './keys.ts';
import { errorView, loggedOutView, logoutView, renderPage } from './interactions/views.ts';
import type { Store } from './store/types.ts';

/** Scopes this IDP offers. `service.api` is the Service API's permission, for machines and users alike. */
export const SCOPES = ['openid', 'offline_access', 'profile', 'email', 'service.api'] as const;

export function createProvider(config: IdpConfig, secrets: Secrets, store: Store): Provider {
  const introspectors = new Set(config.introspectors);

  const configuration: Configuration = {
    adapter: store.adapter,
    jwks: secrets.jwks as Configuration['jwks'],
    cookies: { keys: secrets.cookieKeys },
    scopes: [...SCOPES],
    claims: { openid: ['sub'], profile: ['name', 'preferred_username'], email: ['email', 'email_verified'] },
    routes: { introspection: '/introspect', revocation: '/revoke', jwks: '/jwks.json' },
    pkce: { required: () => true },
    async findAccount(_ctx, sub) {
      const account = await store.accounts.findBySub(sub);
      if (!account) return undefined;
      return {
        accountId: account.sub,
        async claims() {
          return {
            sub: account.sub,
            preferred_username: account.username,
            ...(account.name ? { name: account.name } : {}),
            ...(account.email ? { email: account.email, email_verified: false } : {}),
          };
        },
      };
    },
    interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
    async renderError(ctx, out) {
      renderPage(ctx, 'Error', errorView(out.error, out.error_description), ctx.status >= 400 ? ctx.status : 400);
    },
    clientDefaults: { grant_types: ['client_credentials'], response_types: [], token_endpoint_auth_method: 'client_secret_basic' },
    ttl: {
      AccessToken: config.accessTokenTtl,
      ClientCredentials: config.clientCredentialsTtl,
      RefreshToken: config.refreshTokenTtl,
      AuthorizationCode: 60,
      Grant: config.refreshTokenTtl,
      IdToken: 3600,
      Interaction: 3600,
      Session: 14 * 24 * 3600,
    },
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      revocation: { enabled: true },
      // RFC 8707: the Service API is the one resource server. In jwt mode every access token is bound
      // to it (default resource) and is an RFC 9068 at+jwt signed with the IDP's keys; in opaque mode a
      // client may still name it and gets an opaque token with that audience.
      resourceIndicators: {
        enabled: true,
        defaultResource: () => (config.accessTokenFormat === 'jwt' ? config.serviceApiAudience : undefined),
        useGrantedResource: () => true,
        getResourceServerInfo(ctx, indicator) {
          if (indicator !== config.serviceApiAudience) throw new errors.InvalidTarget(`unknown resource ${indicator}`);
          return {
            scope: 'service.api',
            audience: config.serviceApiAudience,
            accessTokenTTL: ctx.oidc.params?.grant_type === 'client_credentials' ? config.clientCredentialsTtl : config.accessTokenTtl,
            accessTokenFormat: config.accessTokenFormat,
            jwt: { sign: { alg: 'RS256' } },
          };
        },
      },
      rpInitiatedLogout: {
        enabled: true,
        async logoutSource(ctx, form) {
          renderPage(ctx, 'Sign out', logoutView(form, ctx.host));
        },
        async postLogoutSuccessSource(ctx) {
          renderPage(ctx, 'Signed out', loggedOutView());
        },
      },
      introspection: {
        enabled: true,
        // RFC 7662 §4: only authorized callers learn about a token. The allow-listed resource servers may
        // introspect any token; every other confidential client only its own. A token whose client was
        // deleted is inactive (oidc-provider itself would answer 500 reading the missing client).
        async allowedPolicy(ctx: KoaContextWithOIDC, caller, token) {
          if (caller.clientAuthMethod === 'none' || (token.clientId !== caller.clientId && !introspectors.has(caller.clientId))) {
            ctx.state[INTROSPECTION_REFUSED] = true; // counted as a refused caller (metrics.ts)
            return false;
          }
          return token.clientId === caller.clientId || (await ctx.oidc.provider.Client.find(token.clientId!)) !== undefined;
        },
      },
    },
  };

  const provider = new Provider(config.issuer, configuration);
  // URLs are built from the issuer, never from whatever Host a caller sent (see app.ts).
  provider.proxy = true;
  return provider;
}
