import express, { Router, type ErrorRequestHandler } from 'express';
import type { Logger } from 'pino';
import type { Config, WebConfig } from '../config.ts';
import { TemporarilyUnavailable, toHttpError } from '../errors.ts';
import type { ServiceApi } from '../serviceApi.ts';
import { homePage } from './home.ts';
import { createWebIdp, type WebIdp } from './idpClient.ts';
import { completeLogin, startLogin } from './login.ts';
import { logout } from './logout.ts';
import { sessionMiddleware } from './session.ts';
import { createUserTokens, type UserTokens } from './userTokens.ts';
import { errorView, sendPage } from './views.ts';

export interface WebDeps {
  machineApi: ServiceApi;
  log: Logger;
  /** Clock in epoch ms; tests move it forward to expire access tokens. */
  now?: () => number;
  idp?: WebIdp;
  userTokens?: UserTokens;
}

/** The end-user web login (BFF): `/`, `/machine`, `/login`, `/callback`, `POST /logout`. */
export function webRouter(config: Config & { web: WebConfig }, deps: WebDeps): Router {
  const web = config.web;
  const now = deps.now ?? Date.now;
  const idp = deps.idp ?? createWebIdp(web);
  const userTokens = deps.userTokens ?? createUserTokens(idp, now);
  const session = sessionMiddleware(web, deps.log);
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
  router.get('/login', session, startLogin(web, idp, now));
  router.get('/callback', session, completeLogin(web, idp, now));
  router.post('/logout', session, express.urlencoded({ extended: false, limit: '2kb' }), logout(web, idp, deps.log));
  router.use(webErrors(deps.log));
  return router;
}

/** Errors of the web pages are HTML pages, never JSON and never a stack trace. */
function webErrors(log: Logger): ErrorRequestHandler {
  return (err: unknown, _req, res, next) => {
    if (res.headersSent) return next(err);
    const httpError = toHttpError(err);
    if (httpError instanceof TemporarilyUnavailable) {
      log.warn({ reason: httpError.errorDescription }, 'web login: upstream unavailable');
      res.set('Retry-After', httpError.retryAfter);
      return sendPage(res, 'Unavailable', errorView('Try again shortly', `The sign-in service is unavailable right now (${httpError.errorDescription}).`), 503);
    }
    if (httpError !== undefined) {
      return sendPage(res, 'Error', errorView(httpError.status === 400 ? 'Sign-in failed' : 'Request refused', httpError.errorDescription ?? httpError.error), httpError.status);
    }
    const status = (err as { status?: unknown } | null)?.status;
    if (typeof status === 'number' && status >= 400 && status < 500) {
      return sendPage(res, 'Error', errorView('Bad request', 'The request could not be understood.'), status);
    }
    log.error({ err: { type: err instanceof Error ? err.name : typeof err, message: err instanceof Error ? err.message : String(err) } }, 'web login: unhandled error');
    sendPage(res, 'Error', errorView('Something went wrong', 'Solutrix could not complete the request.'), 500);
  };
}
