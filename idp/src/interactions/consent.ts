import type { Context, Middleware } from 'koa';
import type Provider from 'oidc-provider';
import { HttpError } from '../errors.ts';
import { finish, loaded, type Interaction } from './result.ts';
import { consentView, loginView, renderPage } from './views.ts';

async function grantConsent(provider: Provider, ctx: Context, { prompt, params, session, grantId }: Interaction) {
  const grant = grantId
    ? await provider.Grant.find(grantId)
    : new provider.Grant({ accountId: session!.accountId, clientId: params.client_id as string });
  if (!grant) throw new HttpError(400, 'invalid_request', 'the grant of this interaction no longer exists');
  const missing = prompt.details as { missingOIDCScope?: string[]; missingOIDCClaims?: string[]; missingResourceScopes?: Record<string, string[]> };
  if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
  if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
  for (const [indicator, scopes] of Object.entries(missing.missingResourceScopes ?? {})) grant.addResourceScope(indicator, scopes.join(' '));
  const savedGrantId = await grant.save();
  await finish(provider, ctx, { consent: grantId ? {} : { grantId: savedGrantId } }, true);
}

/** `GET /interaction/:uid`: the login page, or the consent page (skipped for first-party clients). */
export function showPrompt(provider: Provider, firstParty: ReadonlySet<string>): Middleware {
  return async (ctx) => {
    const { interaction, uid, clientName } = loaded(ctx);
    if (interaction.prompt.name === 'login') return renderPage(ctx, 'Sign in', loginView(uid, clientName));
    if (interaction.prompt.name === 'consent') {
      if (firstParty.has(interaction.params.client_id as string)) return grantConsent(provider, ctx, interaction);
      const scopes = String(interaction.params.scope ?? '').split(' ').filter(Boolean);
      return renderPage(ctx, 'Allow access', consentView(uid, clientName, scopes));
    }
    throw new HttpError(400, 'invalid_request', `unsupported prompt ${interaction.prompt.name}`);
  };
}

/** `POST /interaction/:uid/confirm`: the person allows what the consent page showed. */
export function confirm(provider: Provider): Middleware {
  return async (ctx) => {
    const { interaction } = loaded(ctx);
    if (interaction.prompt.name !== 'consent') throw new HttpError(400, 'invalid_request', 'nothing to consent to');
    await grantConsent(provider, ctx, interaction);
  };
}

/** `POST /interaction/:uid/abort`: the person cancels; the client gets access_denied. */
export function abort(provider: Provider): Middleware {
  return (ctx) => finish(provider, ctx, { error: 'access_denied', error_description: 'the user cancelled the request' }, false);
}
