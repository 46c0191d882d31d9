import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';
import type { Request, Response } from 'express';

/**
 * Sign-ins on their way through the IDP live in this cookie, not in the session store: an anonymous
 * `GET /login` then costs the server no memory, and no number of them can evict the session of
 * someone signed in (the store holds signed-in sessions only, bounded by SESSION_MAX).
 */
export const LOGIN_COOKIE = 'solutrix.login';
/** An unfinished sign-in expires after this long (the IDP's own interaction lasts longer). */
export const PENDING_LOGIN_TTL_MS = 10 * 60_000;
/** Sign-ins started in parallel (tabs) that one browser keeps; the oldest is dropped. */
export const MAX_PENDING_LOGINS = 5;

/** An authorization request on its way through the IDP (one per tab, keyed by `state`). */
export interface PendingLogin {
  codeVerifier: string;
  nonce: string;
  createdAt: number;
}

export interface LoginStateCookie {
  /** The unexpired sign-ins of the request's cookie, by `state`; empty if it has none or a forged one. */
  read(req: Request): Map<string, PendingLogin>;
  /** Keeps the newest MAX_PENDING_LOGINS of `logins` in the cookie, or clears it when none are left. */
  write(res: Response, logins: Map<string, PendingLogin>): void;
}

const IV_BYTES = 12;
const TAG_BYTES = 16;
const FIELD = /^[A-Za-z0-9_-]{1,128}$/;

/**
 * The cookie is AES-256-GCM encrypted (the PKCE verifier and nonce stay secret even where cookies are
 * logged) and authenticated (a browser cannot make up a pending sign-in) with a key derived from the
 * session secret. Its name is bound in as associated data.
 */
export function loginStateCookie({ secret, secure, now }: { secret: string; secure: boolean; now: () => number }): LoginStateCookie {
  const key = Buffer.from(hkdfSync('sha256', secret, Buffer.alloc(0), 'solutrix login state v1', 32));
  const aad = Buffer.from(LOGIN_COOKIE);
  const attributes = { httpOnly: true, sameSite: 'lax', secure, path: '/' } as const;

  function seal(logins: [string, PendingLogin][]): string {
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', key, iv).setAAD(aad);
    const plain = JSON.stringify(logins.map(([state, l]) => [state, l.codeVerifier, l.nonce, l.createdAt]));
    const sealed = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]);
    return Buffer.concat([iv, cipher.getAuthTag(), sealed]).toString('base64url');
  }

  function open(value: string): unknown {
    const raw = Buffer.from(value, 'base64url');
    if (raw.length <= IV_BYTES + TAG_BYTES) return undefined;
    const decipher = createDecipheriv('aes-256-gcm', key, raw.subarray(0, IV_BYTES)).setAAD(aad);
    decipher.setAuthTag(raw.subarray(IV_BYTES, IV_BYTES + TAG_BYTES));
    try {
      const plain = Buffer.concat([decipher.update(raw.subarray(IV_BYTES + TAG_BYTES)), decipher.final()]);
      return JSON.parse(plain.toString('utf8'));
    } catch {
      // final() throws for a forged cookie or one sealed with another secret; neither is a sign-in of ours.
      return undefined;
    }
  }

  return {
    read(req) {
      const logins = new Map<string, PendingLogin>();
      const value = cookieValue(req.headers.cookie, LOGIN_COOKIE);
      const entries = value === undefined ? undefined : open(value);
      if (!Array.isArray(entries)) return logins;
      const t = now();
      for (const entry of entries.slice(-MAX_PENDING_LOGINS)) {
        if (!Array.isArray(entry) || entry.length !== 4) continue;
        const [state, codeVerifier, nonce, createdAt] = entry as unknown[];
        if (typeof state !== 'string' || !FIELD.test(state) || typeof codeVerifier !== 'string' || typeof nonce !== 'string') continue;
        if (typeof createdAt !== 'number' || !(t - createdAt < PENDING_LOGIN_TTL_MS) || createdAt > t) continue;
        logins.set(state, { codeVerifier, nonce, createdAt });
      }
      return logins;
    },

    write(res, logins) {
      // As express-session does for the session cookie: a Secure cookie is only ever sent over https
      // (directly, or as the TLS-terminating proxy's X-Forwarded-Proto says).
      if (secure && !overHttps(res.req)) return;
      const kept = [...logins].slice(-MAX_PENDING_LOGINS);
      if (kept.length === 0) {
        res.clearCookie(LOGIN_COOKIE, attributes);
        return;
      }
      res.cookie(LOGIN_COOKIE, seal(kept), { ...attributes, maxAge: PENDING_LOGIN_TTL_MS });
    },
  };
}

/** Whether the request reached us over https: the socket's TLS, or the first X-Forwarded-Proto value. */
function overHttps(req: { secure: boolean; headers: Record<string, string | string[] | undefined> }): boolean {
  const forwarded = req.headers['x-forwarded-proto'];
  const proto = (Array.isArray(forwarded) ? forwarded[0] : forwarded)?.split(',')[0]?.trim().toLowerCase();
  return req.secure || proto === 'https';
}

/** The first cookie called `name` in a Cookie header (RFC 6265 §5.4: `name=value; name2=value2`). */
function cookieValue(header: string | undefined, name: string): string | undefined {
  for (const pair of header?.split(';') ?? []) {
    const eq = pair.indexOf('=');
    if (eq !== -1 && pair.slice(0, eq).trim() === name) return pair.slice(eq + 1).trim();
  }
  return undefined;
}
