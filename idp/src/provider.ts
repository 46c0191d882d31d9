import Provider, { errors, type Configuration, type KoaContextWithOIDC } from 'oidc-provider';
import type { IdpConfig } from './config.ts';
import { INTROSPECTION_REFUSED } from './metrics.ts';
import type { Secrets } from './keys.ts';
import { errorView, loggedOutView, logoutView, renderPage } from './interactions/views.ts';
import { resourceIndicators } from './resourceIndicators.ts';
import { OIDC_SCOPES } from './resourceServers.ts';
import { delegationAlive, exchangeClaims, GRANT_CLAIM, registerTokenExchange } from './tokenExchange.ts';
import type { Store } from './store/types.ts';

/** Client metadata of ours, beside oidc-provider's: see admin/clients.ts. */
const EXTRA_CLIENT_METADATA = ['resource_scopes', 'introspects', 'managed_by', 'token_exchange'];

export function createProvider(config: IdpConfig, secrets: Secrets, store: Store): Provider {
  // Deprecated (IDP_INTROSPECTORS): clients that may introspect every token; main.ts warns about it.
  const introspectors = new Set(config.introspectors);

  const configuration: Configuration = {
    adapter: store.adapter,
    jwks: secrets.jwks as Configuration['jwks'],
    cookies: { keys: secrets.cookieKeys },
    // Only the OIDC scopes are static; every other scope belongs to a resource server (the store's).
    scopes: [...OIDC_SCOPES],
    extraClientMetadata: {
      properties: EXTRA_CLIENT_METADATA,
      validator(_ctx, key, value) {
        if (value === undefined) return;
        const strings = (v: unknown) => Array.isArray(v) && v.every((s) => typeof s === 'string');
        const ok =
          key === 'managed_by' ? typeof value === 'string'
          : key === 'token_exchange' ? typeof value === 'object' && value !== null && Object.keys(value).every((k) => k === 'audiences') && strings((value as { audiences?: unknown }).audiences)
          : strings(value);
        if (!ok) throw new errors.InvalidClientMetadata(`${key} has the wrong type`);
      },
    },
    claims: { openid: ['sub'], profile: ['name', 'preferred_username'], email: ['email', 'email_verified'] },
    routes: { introspection: '/introspect', revocation: '/revoke', jwks: '/jwks.json' },
    // RFC 8693 §4.1: an exchanged token records its actor chain (tokenExchange.ts).
    async extraTokenClaims(_ctx, token) {
      return exchangeClaims(token);
    },
    formats: {
      customizers: {
        // JWT user tokens name their grant, so that exchanging one (tokenExchange.ts) can check it.
        async jwt(_ctx, token, jwt) {
          const { grantId, accountId } = token as { grantId?: string; accountId?: string };
          if (grantId && accountId) jwt.payload[GRANT_CLAIM] = grantId;
        },
      },
    },
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
      // A resource server may set its tokens' lifetime (resourceIndicators.ts); these are the defaults.
      AccessToken: (_ctx, token) => token.resourceServer?.accessTokenTTL ?? config.accessTokenTtl,
      ClientCredentials: (_ctx, token) => token.resourceServer?.accessTokenTTL ?? config.clientCredentialsTtl,
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
      resourceIndicators: resourceIndicators(config, store.resourceServers),
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
        // RFC 7662 §4: only authorized callers learn about a token. A confidential client may introspect
        // its own tokens, and a resource server's introspector (`introspects` in its metadata) the tokens
        // whose audience is that resource server; anyone else sees `active: false`. A token whose client
        // was deleted is inactive (oidc-provider itself would answer 500 reading the missing client).
        async allowedPolicy(ctx: KoaContextWithOIDC, caller, token) {
          const refuse = () => {
            ctx.state[INTROSPECTION_REFUSED] = true; // counted as a refused caller (metrics.ts)
            return false;
          };
          if (caller.clientAuthMethod === 'none') return refuse();
          // An exchanged token ends with the user's grant it was derived from (tokenExchange.ts).
          if (!(await delegationAlive(ctx.oidc.provider, (token as { grantId?: string }).grantId))) return false;
          if (token.clientId === caller.clientId) return true;
          const audiences = [(token as { aud?: string | string[] }).aud ?? []].flat();
          const introspects = new Set((caller.metadata().introspects as string[] | undefined) ?? []);
          if (!introspectors.has(caller.clientId) && !audiences.some((aud) => introspects.has(aud))) return refuse();
          return (await ctx.oidc.provider.Client.find(token.clientId!)) !== undefined;
        },
      },
    },
  };

  const provider = new Provider(config.issuer, configuration);
  registerTokenExchange(provider, config, secrets, store);
  // URLs are built from the issuer, never from whatever Host a caller sent (see app.ts).
  provider.proxy = true;
  return provider;
}
