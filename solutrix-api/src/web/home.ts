import { randomBytes } from 'node:crypto';
import type { Request, RequestHandler, Response } from 'express';
import type { Logger } from 'pino';
import { SessionExpired } from '../errors.ts';
import { toHttpProblem } from '../middleware/errorHandler.ts';
import { createServiceApi, type ServiceApi } from '../serviceApi.ts';
import { SESSION_COOKIE } from './session.ts';
import { destroySession } from './sessionUtil.ts';
import type { UserTokens } from './userTokens.ts';
import { homeView, sendPage, signedOutView, type CallResult } from './views.ts';

export interface HomeDeps {
  serviceApiUrl: string;
  serviceApiTimeoutMs: number;
  /** Calls the Service API with Solutrix's own (client_credentials) token. */
  machineApi: ServiceApi;
  userTokens: UserTokens;
  log: Logger;
}

/** GET / (and GET /machine, which adds the machine call): the signed-in user's page, or a sign-in link. */
export function homePage(deps: HomeDeps, { withMachineCall }: { withMachineCall: boolean }): RequestHandler {
  return async (req, res) => {
    const user = req.session.user;
    if (user === undefined) {
      if (withMachineCall) return res.redirect(303, '/');
      return sendPage(res, 'Sign in', signedOutView());
    }

    // The user's own token: refreshed when about to expire, and once more after a 401.
    const userApi = createServiceApi({
      baseUrl: deps.serviceApiUrl,
      timeoutMs: deps.serviceApiTimeoutMs,
      tokens: { getToken: () => deps.userTokens.accessToken(user), invalidate: (token) => token && deps.userTokens.invalidate(user, token) },
    });
    const [userWhoami, machineWhoami] = await Promise.all([
      call(() => userApi.callServiceApi('/v1/whoami'), deps.log),
      withMachineCall ? call(() => deps.machineApi.callServiceApi('/v1/whoami'), deps.log) : undefined,
    ]);
    if (userWhoami === 'expired') return signOutExpired(req, res);

    req.session.csrfToken ??= randomBytes(24).toString('base64url');
    sendPage(res, 'Solutrix', homeView({
      user,
      csrfToken: req.session.csrfToken,
      userWhoami,
      machineWhoami: machineWhoami === 'expired' ? { ok: false, message: 'unexpected' } : machineWhoami,
    }));
  };
}

async function call(fn: () => Promise<unknown>, log: Logger): Promise<CallResult | 'expired'> {
  try {
    return { ok: true, body: await fn() };
  } catch (err) {
    if (err instanceof SessionExpired) return 'expired';
    const problem = toHttpProblem(err);
    if (problem === undefined) {
      log.error({ err: { type: err instanceof Error ? err.name : typeof err, message: err instanceof Error ? err.message : String(err) } }, 'service api call failed');
      return { ok: false, message: 'The call failed unexpectedly.' };
    }
    return { ok: false, message: `${problem.status} ${problem.error}${problem.errorDescription ? `: ${problem.errorDescription}` : ''}` };
  }
}

/** The refresh token was refused: end the session and say so on the signed-out page. */
async function signOutExpired(req: Request, res: Response): Promise<void> {
  await destroySession(req);
  res.clearCookie(SESSION_COOKIE, { path: '/' });
  sendPage(res, 'Sign in', signedOutView('Your session has expired. Sign in again.'));
}
