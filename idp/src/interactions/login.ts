import type { Context, Middleware } from 'koa';
import type Provider from 'oidc-provider';
import { readForm } from '../body.ts';
import { HttpError } from '../errors.ts';
import { FailureWindows } from '../failureWindows.ts';
import { DUMMY_HASH, verifyPassword } from '../passwords.ts';
import type { Store } from '../store/types.ts';
import { finish, loaded } from './result.ts';
import { loginView, renderPage } from './views.ts';

export type LoginLimits = {
  /** Who is guessing (clientAddress.ts): the socket, or what a trusted proxy forwarded. */
  clientAddress: (ctx: Context) => string;
  now?: () => number;
};

/** `POST /interaction/:uid/login`: username and password from the login page's form. */
export function login(provider: Provider, store: Store, { clientAddress, now = Date.now }: LoginLimits): Middleware {
  // Online guessing from one address: 10 failed logins a minute for one username.
  const perAddress = new FailureWindows(10, 60_000, now);
  // Guessing spread over many addresses: 20 failures for one username in 15 minutes, from anywhere,
  // and then every try for that username (the right password too, or 429-vs-success would still be an
  // oracle) waits for the rest of the window. The trade-off: whoever knows a username can keep it
  // locked with 20 requests per 15 minutes; the window is short so the right password is refused for
  // at most 15 minutes, and the bound per address above stops one address from doing it faster.
  const perUsername = new FailureWindows(20, 15 * 60_000, now);

  return async (ctx) => {
    const { interaction, uid, clientName } = loaded(ctx);
    if (interaction.prompt.name !== 'login') throw new HttpError(400, 'invalid_request', 'already signed in');
    const form = await readForm(ctx);
    const username = (form.get('username') ?? '').trim().toLowerCase().slice(0, 64);
    const password = (form.get('password') ?? '').slice(0, 1024);
    const addressKey = `${clientAddress(ctx)}\n${username}`;
    const wait = perAddress.blockedFor(addressKey) ?? perUsername.blockedFor(username);
    if (wait !== undefined) {
      ctx.set('Retry-After', String(wait));
      const minutes = Math.ceil(wait / 60);
      const error = `Too many failed attempts. Wait ${minutes === 1 ? 'a minute' : `${minutes} minutes`} and try again.`;
      return renderPage(ctx, 'Sign in', loginView(uid, clientName, { username, error }), 429);
    }
    const account = username ? await store.accounts.findByUsername(username) : undefined;
    const valid = await verifyPassword(password, account?.passwordHash ?? DUMMY_HASH);
    if (!account || !valid) {
      perAddress.fail(addressKey);
      perUsername.fail(username);
      return renderPage(ctx, 'Sign in', loginView(uid, clientName, { username, error: 'Invalid username or password.' }), 401);
    }
    // Only this address's count is forgiven: a success does not reset what other addresses tried.
    perAddress.forget(addressKey);
    return finish(provider, ctx, { login: { accountId: account.sub } }, false);
  };
}
