import type { Context, Next } from 'koa';
import { LRUCache } from 'lru-cache';
import type Provider from 'oidc-provider';
import type { InteractionResults } from 'oidc-provider';
import { readForm } from '../body.ts';
import { HttpError } from '../errors.ts';
import { DUMMY_HASH, verifyPassword } from '../passwords.ts';
import type { Store } from '../store/types.ts';
import { consentView, loginView, renderPage } from './views.ts';

const PATH = /^\/interaction\/([A-Za-z0-9_-]{1,64})(?:\/(login|confirm|abort))?$/;

/**
 * The login and consent pages behind oidc-provider's interactions. CSRF: every POST must come from
 * the IDP's own origin (Origin / Sec-Fetch-Site), and the interaction is bound to its SameSite=Lax
 * cookie. First-party clients (IDP_FIRST_PARTY_CLIENTS) get consent without asking.
 */
export function interactionRoutes(provider: Provider, store: Store, { issuerOrigin, firstParty }: { issuerOrigin: string; firstParty: ReadonlySet<string> }) {
  // Online guessing: at most 10 failed logins a minute for one username from one address.
  const failures = new LRUCache<string, { count: number }>({ max: 10_000, ttl: 60_000 });

  async function finish(ctx: Context, result: InteractionResults, merge: boolean) {
    const redirectTo = await provider.interactionResult(ctx.req, ctx.res, result, { mergeWithLastSubmission: merge });
    ctx.status = 303;
    ctx.redirect(redirectTo);
  }

  async function grantConsent(ctx: Context, details: Awaited<ReturnType<Provider['interactionDetails']>>) {
    const { prompt, params, session, grantId } = details;
    const grant = grantId
      ? await provider.Grant.find(grantId)
      : new provider.Grant({ accountId: session!.accountId, clientId: params.client_id as string });
    if (!grant) throw new HttpError(400, 'invalid_request', 'the grant of this interaction no longer exists');
    const missing = prompt.details as { missingOIDCScope?: string[]; missingOIDCClaims?: string[]; missingResourceScopes?: Record<string, string[]> };
    if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
    if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
    for (const [indicator, scopes] of Object.entries(missing.missingResourceScopes ?? {})) grant.addResourceScope(indicator, scopes.join(' '));
    const savedGrantId = await grant.save();
    await finish(ctx, { consent: grantId ? {} : { grantId: savedGrantId } }, true);
  }

  function sameOrigin(ctx: Context): boolean {
    const origin = ctx.get('origin');
    if (origin && origin !== 'null') return origin === issuerOrigin; // pages sent with Referrer-Policy no-referrer post `Origin: null`
    const site = ctx.get('sec-fetch-site');
    return !site || site === 'same-origin' || site === 'none';
  }

  return async (ctx: Context, next: Next) => {
    const match = PATH.exec(ctx.path);
    if (!match) return next();
    const [, uid, action] = match;
    const details = await provider.interactionDetails(ctx.req, ctx.res).catch(() => undefined);
    if (!details || details.uid !== uid) {
      throw new HttpError(400, 'invalid_request', 'this sign-in attempt has expired or is unknown; start again from the application');
    }
    const client = await provider.Client.find(details.params.client_id as string);
    const clientName = client?.clientName ?? (details.params.client_id as string);

    if (!action) {
      if (ctx.method !== 'GET') throw new HttpError(405, 'invalid_request', 'method not allowed', { Allow: 'GET' });
      if (details.prompt.name === 'login') return renderPage(ctx, 'Sign in', loginView(uid!, clientName));
      if (details.prompt.name === 'consent') {
        if (firstParty.has(details.params.client_id as string)) return grantConsent(ctx, details);
        const scopes = String(details.params.scope ?? '').split(' ').filter(Boolean);
        return renderPage(ctx, 'Allow access', consentView(uid!, clientName, scopes));
      }
      throw new HttpError(400, 'invalid_request', `unsupported prompt ${details.prompt.name}`);
    }

    if (ctx.method !== 'POST') throw new HttpError(405, 'invalid_request', 'method not allowed', { Allow: 'POST' });
    if (!sameOrigin(ctx)) throw new HttpError(403, 'invalid_request', 'cross-site form submissions are refused');

    if (action === 'abort') {
      return finish(ctx, { error: 'access_denied', error_description: 'the user cancelled the request' }, false);
    }
    if (action === 'confirm') {
      if (details.prompt.name !== 'consent') throw new HttpError(400, 'invalid_request', 'nothing to consent to');
      return grantConsent(ctx, details);
    }

    // login
    if (details.prompt.name !== 'login') throw new HttpError(400, 'invalid_request', 'already signed in');
    const form = await readForm(ctx);
    const username = (form.get('username') ?? '').trim().toLowerCase().slice(0, 64);
    const password = (form.get('password') ?? '').slice(0, 1024);
    const key = `${ctx.ip}\n${username}`;
    const seen = failures.get(key);
    if (seen && seen.count >= 10) {
      ctx.set('Retry-After', '60');
      return renderPage(ctx, 'Sign in', loginView(uid!, clientName, { username, error: 'Too many failed attempts. Wait a minute and try again.' }), 429);
    }
    const account = username ? await store.accounts.findByUsername(username) : undefined;
    const valid = await verifyPassword(password, account?.passwordHash ?? DUMMY_HASH);
    if (!account || !valid) {
      if (seen) seen.count += 1;
      else failures.set(key, { count: 1 });
      return renderPage(ctx, 'Sign in', loginView(uid!, clientName, { username, error: 'Invalid username or password.' }), 401);
    }
    failures.delete(key);
    return finish(ctx, { login: { accountId: account.sub } }, false);
  };
}
