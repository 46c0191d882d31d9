import { randomBytes } from 'node:crypto';
import express, { Router } from 'express';
import type session from 'express-session';
import type { Logger } from 'pino';
import type { Config, WebConfig } from '../config.ts';
import { errorHandler } from '../middleware/errorHandler.ts';
import type { ServiceApi } from '../serviceApi.ts';
import { homePage } from './home.ts';
import { createWebIdp, type WebIdp } from './idpClient.ts';
import { completeLogin, startLogin } from './login.ts';
import { loginStateCookie } from './loginState.ts';
import { logout } from './logout.ts';
import { sessionMiddleware } from './session.ts';
import { LruSessionStore } from './sessionStore.ts';
import { createUserTokens, type UserTokens } from './userTokens.ts';
import { sendProblemPage } from './views.ts';

export interface WebDeps {
  machineApi: ServiceApi;
  log: Logger;
  /** Clock in epoch ms; tests move it forward to expire access tokens, sign-ins and idle sessions. */
  now?: () => number;
  /** Where signed-in sessions live. Default: an LruSessionStore of SESSION_MAX, SESSION_IDLE_TIMEOUT. */
  sessionStore?: session.Store;
  idp?: WebIdp;
  userTokens?: UserTokens;
}

/** The end-user web login (BFF): `/`, `/machine`, `/login`, `/callback`, `POST /logout`. */
export function webRouter(config: Config & { web: WebConfig }, deps: WebDeps): Router {
  const web = config.web;
  const now = deps.now ?? Date.now;
  const idp = deps.idp ?? createWebIdp(web);
  const userTokens = deps.userTokens ?? createUserTokens(idp, now);
  const secure = web.publicUrl.startsWith('https:');
  let secret = web.sessionSecret;
  if (secret === undefined) {
    secret = randomBytes(32).toString('base64url');
    deps.log.warn('SESSION_SECRET is unset: generated one, sessions end when this process stops');
  }
  const store = deps.sessionStore ?? new LruSessionStore({ max: web.maxSessions, idleTimeoutMs: web.sessionIdleTimeoutSeconds * 1000, now });
  const session = sessionMiddleware({ secret, secure, store });
  const loginState = loginStateCookie({ secret, secure, now });
  const homeDeps = {
    serviceApiUrl: config.serviceApiUrl,
    serviceApiTimeoutMs: config.serviceApiTimeoutMs,
    machineApi: deps.machineApi,
    userTokens,
    log: deps.log,
  };

  const router = Router();
  // Sessions only where the web login needs them: /healthz and the JSON API never set a cookie.
  router.get('/', session, homePage(homeDeps, { withMachineCall: false }));
  router.get('/machine', session, homePage(homeDeps, { withMachineCall: true }));
  router.get('/login', session, startLogin(web, idp, loginState, now));
  router.get('/callback', session, completeLogin(web, idp, loginState, now));
  router.post('/logout', session, express.urlencoded({ extended: false, limit: '2kb' }), logout(web, idp, deps.log));
  router.use(errorHandler(deps.log, sendProblemPage));
  return router;
}
