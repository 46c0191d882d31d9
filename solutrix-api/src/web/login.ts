import type { Request, RequestHandler } from 'express';
import * as oidc from 'openid-client';
import type { WebConfig } from '../config.ts';
import { HttpError, TemporarilyUnavailable } from '../errors.ts';
import { classifyIdpError, type WebIdp } from './idpClient.ts';
import type { PendingLogin } from './session.ts';
import { regenerateSession } from './sessionUtil.ts';

/** An unfinished sign-in expires after this long (the IDP's own interaction lasts longer). */
const PENDING_LOGIN_TTL_MS = 10 * 60_000;
/** Sign-ins started in parallel (tabs) that one session remembers; the oldest is dropped. */
const MAX_PENDING_LOGINS = 5;

const loginFailed = (message: string) => new HttpError(400, 'login_failed', message);

/** GET /login: authorization code flow with PKCE (S256), state and nonce. */
export function startLogin(config: WebConfig, idp: WebIdp, now: () => number): RequestHandler {
  return async (req, res) => {
    if (req.session.user) return res.redirect(303, '/');
    const configuration = await idpConfiguration(idp);
    const codeVerifier = oidc.randomPKCECodeVerifier();
    const state = oidc.randomState();
    const nonce = oidc.randomNonce();
    const pending = Object.entries(req.session.pendingLogins ?? {})
      .filter(([, login]) => now() - login.createdAt < PENDING_LOGIN_TTL_MS)
      .slice(-(MAX_PENDING_LOGINS - 1));
    req.session.pendingLogins = Object.fromEntries([...pending, [state, { codeVerifier, nonce, createdAt: now() } satisfies PendingLogin]]);
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
export function completeLogin(config: WebConfig, idp: WebIdp, now: () => number): RequestHandler {
  return async (req, res) => {
    const state = typeof req.query.state === 'string' ? req.query.state : undefined;
    const pending = state === undefined ? undefined : req.session.pendingLogins?.[state];
    if (pending !== undefined) delete req.session.pendingLogins![state!];

    if (typeof req.query.error === 'string') {
      const description = typeof req.query.error_description === 'string' ? `: ${req.query.error_description}` : '';
      throw loginFailed(`The identity provider did not sign you in (${req.query.error}${description}).`);
    }
    if (pending === undefined || now() - pending.createdAt >= PENDING_LOGIN_TTL_MS) {
      throw loginFailed('This sign-in attempt is unknown or has expired. Start again from Solutrix.');
    }

    const configuration = await idpConfiguration(idp);
    const requestedAt = now();
    let tokens: oidc.TokenEndpointResponse & oidc.TokenEndpointResponseHelpers;
    try {
      tokens = await oidc.authorizationCodeGrant(configuration, callbackUrl(config, req), {
        pkceCodeVerifier: pending.codeVerifier,
        expectedState: state,
        expectedNonce: pending.nonce,
        idTokenExpected: true,
      });
    } catch (err) {
      if (classifyIdpError(err) === 'unavailable') throw new TemporarilyUnavailable('the identity provider is unavailable');
      throw loginFailed('The sign-in could not be completed. Start again from Solutrix.');
    }
    const claims = tokens.claims()!;
    // With conformIdTokenClaims the ID token carries only `sub`; the profile comes from userinfo.
    const profile = await oidc.fetchUserInfo(configuration, tokens.access_token, claims.sub).catch(() => claims);

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

async function idpConfiguration(idp: WebIdp): Promise<oidc.Configuration> {
  try {
    return await idp.configuration();
  } catch {
    throw new TemporarilyUnavailable('the identity provider is unavailable');
  }
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
