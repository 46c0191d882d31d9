import { randomBytes } from 'node:crypto';
import type { RequestHandler } from 'express';
import session from 'express-session';
import type { Logger } from 'pino';
import type { WebConfig } from '../config.ts';
import { LruSessionStore } from './sessionStore.ts';

/** An authorization request on its way through the IDP (one per tab, keyed by `state`). */
export interface PendingLogin {
  codeVerifier: string;
  nonce: string;
  createdAt: number;
}

/** The signed-in user and their tokens. Lives only in the server-side session. */
export interface SignedInUser {
  sub: string;
  preferredUsername?: string;
  name?: string;
  email?: string;
  idToken: string;
  accessToken: string;
  /** Epoch ms, counted from when the token was requested. */
  accessTokenExpiresAt: number;
  refreshToken?: string;
  scope?: string;
}

declare module 'express-session' {
  interface SessionData {
    pendingLogins?: Record<string, PendingLogin>;
    user?: SignedInUser;
    /** Session-bound token for the sign-out form. */
    csrfToken?: string;
    /** A one-time message for the next page (e.g. "your session expired"). */
    notice?: string;
  }
}

export const SESSION_COOKIE = 'solutrix.sid';

export function sessionMiddleware(config: WebConfig, log: Logger): RequestHandler {
  const secure = config.publicUrl.startsWith('https:');
  let secret = config.sessionSecret;
  if (secret === undefined) {
    secret = randomBytes(32).toString('base64url');
    log.warn('SESSION_SECRET is unset: generated one, sessions end when this process stops');
  }
  return session({
    name: SESSION_COOKIE,
    secret,
    store: new LruSessionStore({ max: config.maxSessions, idleTimeoutMs: config.sessionIdleTimeoutSeconds * 1000 }),
    resave: false,
    saveUninitialized: false,
    unset: 'destroy',
    // Behind a TLS-terminating proxy req.secure is false; trust X-Forwarded-Proto only then.
    ...(secure ? { proxy: true } : {}),
    cookie: { httpOnly: true, sameSite: 'lax', secure, path: '/' },
  });
}
