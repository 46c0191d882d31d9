import * as oidc from 'openid-client';
import { SessionExpired } from '../errors.ts';
import { askIdp, IdpRejected } from '../security/idpError.ts';
import type { WebIdp } from './idpClient.ts';
import type { SignedInUser } from './session.ts';

/** Refresh the access token once less than this remains of its lifetime. */
export const REFRESH_MARGIN_MS = 30_000;
/** Lifetime assumed when a token response has no `expires_in`. */
const DEFAULT_LIFETIME_S = 60;

export interface UserTokens {
  /**
   * The user's access token, refreshed first when it expires within 30 s. Updates `user` in place
   * (the caller's session is then saved). Throws SessionExpired, or an IdpError when the IDP is
   * down or answers something unusable (the session is kept).
   */
  accessToken(user: SignedInUser): Promise<string>;
  /** Marks `token` as no longer usable (a 401 from the Service API), so the next call refreshes. */
  invalidate(user: SignedInUser, token: string): void;
  readonly stats: { readonly refreshes: number };
}

type Refreshed = Pick<SignedInUser, 'accessToken' | 'accessTokenExpiresAt' | 'refreshToken' | 'idToken' | 'scope'>;

export function createUserTokens(idp: WebIdp, now: () => number = Date.now): UserTokens {
  const stats = { refreshes: 0 };
  // Two requests of one session refreshing at once share one refresh: a second use of a rotated
  // refresh token would make the IDP revoke the whole grant.
  const inflight = new Map<string, Promise<Refreshed>>();

  async function refresh(user: SignedInUser, refreshToken: string): Promise<Refreshed> {
    const config = await idp.configuration();
    const requestedAt = now();
    stats.refreshes += 1;
    let response: oidc.TokenEndpointResponse;
    try {
      response = await askIdp('refresh', () => oidc.refreshTokenGrant(config, refreshToken));
    } catch (err) {
      if (err instanceof IdpRejected) throw new SessionExpired('the identity provider refused the refresh token');
      throw err;
    }
    return {
      accessToken: response.access_token,
      accessTokenExpiresAt: requestedAt + (response.expires_in ?? DEFAULT_LIFETIME_S) * 1000,
      refreshToken: response.refresh_token ?? refreshToken,
      idToken: response.id_token ?? user.idToken,
      ...(response.scope === undefined ? {} : { scope: response.scope }),
    };
  }

  return {
    stats,

    async accessToken(user) {
      if (now() < user.accessTokenExpiresAt - REFRESH_MARGIN_MS) return user.accessToken;
      const refreshToken = user.refreshToken;
      if (refreshToken === undefined) throw new SessionExpired('the access token expired and there is no refresh token');
      let pending = inflight.get(refreshToken);
      if (pending === undefined) {
        pending = refresh(user, refreshToken).finally(() => inflight.delete(refreshToken));
        inflight.set(refreshToken, pending);
      }
      Object.assign(user, await pending);
      return user.accessToken;
    },

    invalidate(user, token) {
      if (user.accessToken === token) user.accessTokenExpiresAt = 0;
    },
  };
}
