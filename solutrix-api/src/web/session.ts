import type { RequestHandler } from 'express';
import session from 'express-session';

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
    user?: SignedInUser;
    /** Session-bound token for the sign-out form. */
    csrfToken?: string;
  }
}

export const SESSION_COOKIE = 'solutrix.sid';

/**
 * Server-side sessions of signed-in people only: pending sign-ins live in the login cookie
 * (loginState.ts), and nothing else writes to an anonymous session, so `saveUninitialized: false`
 * never stores one.
 */
export function sessionMiddleware({ secret, secure, store }: { secret: string; secure: boolean; store: session.Store }): RequestHandler {
  return session({
    name: SESSION_COOKIE,
    secret,
    store,
    resave: false,
    saveUninitialized: false,
    unset: 'destroy',
    // Behind a TLS-terminating proxy req.secure is false; trust X-Forwarded-Proto only then.
    ...(secure ? { proxy: true } : {}),
    cookie: { httpOnly: true, sameSite: 'lax', secure, path: '/' },
  });
}
