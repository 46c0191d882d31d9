import type { Middleware } from 'koa';
import { LRUCache } from 'lru-cache';
import type Provider from 'oidc-provider';
import { readForm } from '../body.ts';
import { HttpError } from '../errors.ts';
import { DUMMY_HASH, verifyPassword } from '../passwords.ts';
import type { Store } from '../store/types.ts';
import { finish, loaded } from './result.ts';
import { loginView, renderPage } from './views.ts';

/** `POST /interaction/:uid/login`: username and password from the login page's form. */
export function login(provider: Provider, store: Store): Middleware {
  // Online guessing: at most 10 failed logins a minute for one username from one address.
  const failures = new LRUCache<string, { count: number }>({ max: 10_000, ttl: 60_000 });

  return async (ctx) => {
    const { interaction, uid, clientName } = loaded(ctx);
    if (interaction.prompt.name !== 'login') throw new HttpError(400, 'invalid_request', 'already signed in');
    const form = await readForm(ctx);
    const username = (form.get('username') ?? '').trim().toLowerCase().slice(0, 64);
    const password = (form.get('password') ?? '').slice(0, 1024);
    // Not ctx.ip: with koa's proxy: true that is the caller-chosen X-Forwarded-For.
    const key = `${ctx.req.socket.remoteAddress ?? 'unknown'}\n${username}`;
    const seen = failures.get(key);
    if (seen && seen.count >= 10) {
      ctx.set('Retry-After', '60');
      return renderPage(ctx, 'Sign in', loginView(uid, clientName, { username, error: 'Too many failed attempts. Wait a minute and try again.' }), 429);
    }
    const account = username ? await store.accounts.findByUsername(username) : undefined;
    const valid = await verifyPassword(password, account?.passwordHash ?? DUMMY_HASH);
    if (!account || !valid) {
      if (seen) seen.count += 1;
      else failures.set(key, { count: 1 });
      return renderPage(ctx, 'Sign in', loginView(uid, clientName, { username, error: 'Invalid username or password.' }), 401);
    }
    failures.delete(key);
    return finish(provider, ctx, { login: { accountId: account.sub } }, false);
  };
}
