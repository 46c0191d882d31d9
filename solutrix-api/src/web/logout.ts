import type { RequestHandler } from 'express';
import * as oidc from 'openid-client';
import type { Logger } from 'pino';
import type { WebConfig } from '../config.ts';
import { CrossSiteRequest } from '../errors.ts';
import { askIdp, IdpError } from '../security/idpError.ts';
import { isSameOriginPost } from './csrf.ts';
import type { WebIdp } from './idpClient.ts';
import { SESSION_COOKIE } from './session.ts';
import { destroySession } from './sessionUtil.ts';

/**
 * POST /logout: ends the Solutrix session, revokes the refresh token (offline_access grants outlive
 * the IDP session), then sends the browser to the IDP's end_session endpoint so the IDP session
 * ends too; the IDP sends it back to `${publicUrl}/`.
 */
export function logout(config: WebConfig, idp: WebIdp, log: Logger): RequestHandler {
  return async (req, res) => {
    if (!isSameOriginPost(req, config.publicUrl, req.session.csrfToken)) {
      throw new CrossSiteRequest('This sign-out request did not come from Solutrix. Use the Sign out button.');
    }
    const user = req.session.user;
    await destroySession(req);
    res.clearCookie(SESSION_COOKIE, { path: '/' });
    if (user === undefined) return res.redirect(303, '/');

    // The Solutrix session is gone already; an IDP that cannot be asked only costs the IDP-side sign-out.
    let configuration: oidc.Configuration;
    try {
      configuration = await idp.configuration();
    } catch (err) {
      if (!(err instanceof IdpError)) throw err;
      log.warn({ code: err.code, reason: err.message }, 'sign-out: the IDP session and refresh token stay until they expire');
      return res.redirect(303, '/');
    }
    const refreshToken = user.refreshToken;
    if (refreshToken !== undefined) {
      try {
        await askIdp('revocation', () => oidc.tokenRevocation(configuration, refreshToken, { token_type_hint: 'refresh_token' }));
      } catch (err) {
        if (!(err instanceof IdpError)) throw err;
        log.warn({ code: err.code, reason: err.message }, 'refresh token revocation failed');
      }
    }
    const endSession = oidc.buildEndSessionUrl(configuration, {
      id_token_hint: user.idToken,
      post_logout_redirect_uri: `${config.publicUrl}/`,
    });
    res.redirect(303, endSession.href);
  };
}
