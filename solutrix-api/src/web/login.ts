import type { Request, RequestHandler } from 'express';
import * as oidc from 'openid-client';
import type { WebConfig } from '../config.ts';
import { LoginFailed } from '../errors.ts';
import { askIdp, IdpInvalidResponse, IdpRejected } from '../security/idpError.ts';
import type { WebIdp } from './idpClient.ts';
import { MAX_PENDING_LOGINS, type LoginStateCookie } from './loginState.ts';
import { regenerateSession } from './sessionUtil.ts';

const UNKNOWN_ATTEMPT = 'This sign-in attempt is unknown or has expired. Start again from Solutrix.';
// RFC 6749 §4.1.2.1: `error` and `error_description` are printable ASCII without `"` and `\`.
const ERROR_TEXT = /^[\x20-\x21\x23-\x5b\x5d-\x7e]{1,200}$/;

/** GET /login: authorization code flow with PKCE (S256), state and nonce, kept in the login cookie. */
export function startLogin(config: WebConfig, idp: WebIdp, loginState: LoginStateCookie, now: () => number): RequestHandler {
  return async (req, res) => {
    if (req.session.user) return res.redirect(303, '/');
    const configuration = await idp.configuration();
    const codeVerifier = oidc.randomPKCECodeVerifier();
    const state = oidc.randomState();
    const nonce = oidc.randomNonce();
    const pending = [...loginState.read(req)].slice(-(MAX_PENDING_LOGINS - 1));
    loginState.write(res, new Map([...pending, [state, { codeVerifier, nonce, createdAt: now() }]]));
    const url = oidc.buildAuthorizationUrl(configuration, {
      redirect_uri: `${config.publicUrl}/callback`,
      scope: config.scope,
      code_challenge: await oidc.calculatePKCECodeChallenge(codeVerifier),
      code_challenge_method: 'S256',
      state,
      nonce,
      // oidc-provider issues a refresh token (offline_access) only after a consent prompt.
      prompt: 'consent',
    });
    res.redirect(303, url.href);
  };
}

/** GET /callback: checks state, exchanges the code, starts a fresh session holding the tokens. */
export function completeLogin(config: WebConfig, idp: WebIdp, loginState: LoginStateCookie, now: () => number): RequestHandler {
  return async (req, res) => {
    const state = typeof req.query.state === 'string' ? req.query.state : undefined;
    const logins = loginState.read(req);
    const pending = state === undefined ? undefined : logins.get(state);
    // Whatever the IDP says next, this state is used up.
    if (pending !== undefined) {
      logins.delete(state!);
      loginState.write(res, logins);
    }

    // Anyone can send a browser here with made-up `error_description`: only the IDP's answer to a
    // sign-in this browser started (its `state` matches) is shown.
    if (pending === undefined) throw new LoginFailed(UNKNOWN_ATTEMPT);
    if (req.query.error !== undefined) throw new LoginFailed(`The identity provider did not sign you in (${idpErrorText(req.query)}).`);

    const configuration = await idp.configuration();
    const requestedAt = now();
    let tokens: oidc.TokenEndpointResponse & oidc.TokenEndpointResponseHelpers;
    try {
      tokens = await askIdp('code exchange', () =>
        oidc.authorizationCodeGrant(configuration, callbackUrl(config, req), {
          pkceCodeVerifier: pending.codeVerifier,
          expectedState: state,
          expectedNonce: pending.nonce,
          idTokenExpected: true,
        }),
      );
    } catch (err) {
      // IdpUnavailable goes on to the error page (503, try again); a refused or forged code does not.
      if (err instanceof IdpRejected || err instanceof IdpInvalidResponse) throw new LoginFailed('The sign-in could not be completed. Start again from Solutrix.');
      throw err;
    }
    const claims = tokens.claims()!;
    // With conformIdTokenClaims the ID token carries only `sub`; the profile comes from userinfo.
    let profile: oidc.UserInfoResponse | oidc.IDToken;
    try {
      profile = await askIdp('userinfo', () => oidc.fetchUserInfo(configuration, tokens.access_token, claims.sub));
    } catch (err) {
      // A token bound to the Service API (jwt mode) is refused at userinfo; the IDP then puts the
      // profile claims in the ID token. Any other failure is not hidden.
      if (!(err instanceof IdpRejected)) throw err;
      profile = claims;
    }

    await regenerateSession(req);
    req.session.user = {
      sub: claims.sub,
      ...stringClaim('preferredUsername', profile.preferred_username),
      ...stringClaim('name', profile.name),
      ...stringClaim('email', profile.email),
      idToken: tokens.id_token!,
      accessToken: tokens.access_token,
      accessTokenExpiresAt: requestedAt + (tokens.expires_in ?? 60) * 1000,
      ...(tokens.refresh_token === undefined ? {} : { refreshToken: tokens.refresh_token }),
      ...(tokens.scope === undefined ? {} : { scope: tokens.scope }),
    };
    res.redirect(303, '/');
  };
}

/** `error: error_description` of an authorization error response, or just what of it is well formed. */
function idpErrorText(query: Request['query']): string {
  const error = typeof query.error === 'string' && ERROR_TEXT.test(query.error) ? query.error : 'error';
  const description = query.error_description;
  return typeof description === 'string' && ERROR_TEXT.test(description) ? `${error}: ${description}` : error;
}

/** The URL the IDP redirected the browser to, on our public origin (it becomes the redirect_uri). */
function callbackUrl(config: WebConfig, req: Request): URL {
  const url = new URL('/callback', config.publicUrl);
  url.search = new URL(req.originalUrl, config.publicUrl).search;
  return url;
}

function stringClaim<K extends string>(key: K, value: unknown): Partial<Record<K, string>> {
  return typeof value === 'string' && value !== '' ? ({ [key]: value } as Record<K, string>) : {};
}
