import type { Context, Middleware, Next } from 'koa';
import compose from 'koa-compose';
import type Provider from 'oidc-provider';
import { errors } from 'oidc-provider';
import { HttpError, noRoute } from '../errors.ts';
import { refuseOtherMethods, routeTable } from '../routing.ts';
import type { Store } from '../store/types.ts';
import { abort, confirm, showPrompt } from './consent.ts';
import { login } from './login.ts';

const UID = /^[A-Za-z0-9_-]{1,64}$/;

const expired = () => new HttpError(400, 'invalid_request', 'this sign-in attempt has expired or is unknown; start again from the application');

/** oidc-provider's interaction (from its cookie) as `ctx.state.interaction`, if it is the one in the path. */
function loadInteraction(provider: Provider): Middleware {
  return async (ctx, next) => {
    const interaction = await provider.interactionDetails(ctx.req, ctx.res);
    if (interaction.uid !== ctx.params.uid) throw expired();
    ctx.state.interaction = interaction;
    ctx.state.client = await provider.Client.find(interaction.params.client_id as string);
    return next();
  };
}

/**
 * CSRF: every POST must come from the IDP's own origin (Origin / Sec-Fetch-Site), and the interaction
 * is bound to its SameSite=Lax cookie.
 */
function requireSameOrigin(issuerOrigin: string): Middleware {
  return (ctx, next) => {
    const origin = ctx.get('origin');
    const site = ctx.get('sec-fetch-site');
    // Pages sent with Referrer-Policy no-referrer post `Origin: null`.
    const same = origin && origin !== 'null' ? origin === issuerOrigin : !site || site === 'same-origin' || site === 'none';
    if (!same) throw new HttpError(403, 'invalid_request', 'cross-site form submissions are refused');
    return next();
  };
}

/**
 * The login and consent pages behind oidc-provider's interactions. First-party clients
 * (IDP_FIRST_PARTY_CLIENTS) get consent without asking.
 */
export function interactionRoutes(
  provider: Provider,
  store: Store,
  { issuerOrigin, firstParty, clientAddress }: { issuerOrigin: string; firstParty: ReadonlySet<string>; clientAddress: (ctx: Context) => string },
): Middleware {
  const interaction = loadInteraction(provider);
  const sameOrigin = requireSameOrigin(issuerOrigin);
  const router = routeTable()
    // The interaction is gone (expired, finished, or its cookie lost): the person starts again.
    // Anything else (a store outage) is the error handler's 500.
    .use(async (ctx, next) => {
      try {
        await next();
      } catch (err) {
        if (err instanceof errors.SessionNotFound) throw expired();
        throw err;
      }
    })
    .param('uid', (uid, ctx, next) => {
      if (!UID.test(uid)) throw noRoute(ctx);
      return next();
    })
    .get('/interaction/:uid', interaction, showPrompt(provider, firstParty))
    .post('/interaction/:uid/login', sameOrigin, interaction, login(provider, store, { clientAddress }))
    .post('/interaction/:uid/confirm', sameOrigin, interaction, confirm(provider))
    .post('/interaction/:uid/abort', sameOrigin, interaction, abort(provider));
  return compose<Context>([router.routes(), refuseOtherMethods] as Middleware[]) as (ctx: Context, next: Next) => Promise<void>;
}
