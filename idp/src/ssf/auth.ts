import type { Context, Next } from 'koa';
import type Provider from 'oidc-provider';
import { HttpError } from '../errors.ts';
import { SSF_SCOPE } from './resourceServer.ts';

const REALM = 'ssf';

/** The receiver a request acts for: the client of its `ssf.manage` token. */
export const receiverOf = (ctx: Context): string => ctx.state.ssfReceiver as string;

const invalidToken = (description: string) =>
  new HttpError(401, 'invalid_token', description, { 'WWW-Authenticate': `Bearer realm="${REALM}", error="invalid_token"` });

/**
 * RFC 6750 Bearer authentication for /ssf/*: an access token of this IDP, unexpired, for the SSF
 * resource server (`aud`), with scope `ssf.manage`, whose client still exists. Looked up in the IDP's
 * own store through oidc-provider's models, so a revoked token stops working at once. The client is
 * the receiver (`receiverOf`).
 */
export function requireSsfToken(provider: Provider, audience: string, now = () => Math.floor(Date.now() / 1000)) {
  return async (ctx: Context, next: Next) => {
    const header = ctx.get('authorization');
    const match = /^Bearer ([\x21-\x7e]+)$/i.exec(header);
    if (!match) {
      if (header) throw invalidToken('the Authorization header must be "Bearer <access token>"');
      // RFC 6750 §3.1: a request without credentials gets the challenge and no error code.
      throw new HttpError(401, 'invalid_token', 'an ssf.manage access token is required', { 'WWW-Authenticate': `Bearer realm="${REALM}", scope="${SSF_SCOPE}"` });
    }
    const value = match[1]!;
    const token = (await provider.ClientCredentials.find(value)) ?? (await provider.AccessToken.find(value));
    if (!token || !token.clientId || token.exp === undefined || token.exp <= now()) throw invalidToken('the access token is not active');
    const audiences = [(token as { aud?: string | string[] }).aud ?? []].flat();
    if (!audiences.includes(audience)) throw invalidToken(`the access token is not for ${audience}`);
    if (!String(token.scope ?? '').split(' ').includes(SSF_SCOPE)) {
      throw new HttpError(403, 'insufficient_scope', `the access token lacks scope ${SSF_SCOPE}`, {
        'WWW-Authenticate': `Bearer realm="${REALM}", error="insufficient_scope", scope="${SSF_SCOPE}"`,
      });
    }
    // A deleted client is nobody's receiver, whatever tokens of it the store still holds.
    if (!(await provider.Client.find(token.clientId))) throw invalidToken('the access token is not active');
    ctx.state.ssfReceiver = token.clientId;
    return next();
  };
}
