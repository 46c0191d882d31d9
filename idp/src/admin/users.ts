import { randomUUID } from 'node:crypto';
import { HttpError, invalidRequest, notFound } from '../errors.ts';
import { hashPassword } from '../passwords.ts';
import type { Account, Store } from '../store/types.ts';
import { readJsonObject } from '../body.ts';
import { routeTable } from '../routing.ts';

const USERNAME = /^[a-z0-9][a-z0-9._-]{0,63}$/;
const FIELDS = new Set(['username', 'password', 'name', 'email']);

const view = (a: Account) => ({ sub: a.sub, username: a.username, name: a.name, email: a.email, created_at: a.createdAt });

/** The registration body as a new account, or a 400 that says why. */
async function toAccount(body: Record<string, unknown>, now: number): Promise<Account> {
  for (const key of Object.keys(body)) {
    if (!FIELDS.has(key)) throw invalidRequest(`unknown field "${key}"; allowed: ${[...FIELDS].join(', ')}`);
  }
  const { username, password } = body;
  if (typeof username !== 'string' || !USERNAME.test(username)) {
    throw invalidRequest('username must be 1-64 characters of a-z 0-9 . _ - (lower case)');
  }
  if (typeof password !== 'string' || password.length < 8 || password.length > 1024) {
    throw invalidRequest('password must be a string of 8 to 1024 characters');
  }
  // Eight spaces pass the length rule but are guessed first; the login page does not trim passwords.
  if (password.trim() === '') throw invalidRequest('password must not be only whitespace');
  const email = optionalString(body, 'email', 254);
  if (email !== null && !/^[^\s@]+@[^\s@]+$/.test(email)) throw invalidRequest('email must be an e-mail address');
  return {
    sub: randomUUID(),
    username,
    passwordHash: await hashPassword(password),
    name: optionalString(body, 'name', 200),
    email,
    createdAt: now,
  };
}

function optionalString(body: Record<string, unknown>, field: string, max: number): string | null {
  const value = body[field];
  if (value === undefined || value === null) return null;
  if (typeof value !== 'string' || value.length > max) throw invalidRequest(`${field} must be a string of at most ${max} characters`);
  return value;
}

/** `POST /users`, `GET /users`, `GET|DELETE /users/:username`. Passwords are stored as scrypt hashes only. */
export function userRoutes(store: Store, now = () => Math.floor(Date.now() / 1000)) {
  return routeTable()
    // A username that cannot exist never reaches the store.
    .param('username', (username, _ctx, next) => {
      if (!USERNAME.test(username)) throw notFound(`no user "${username}"`);
      return next();
    })
    .get('/users', async (ctx) => {
      ctx.body = { users: (await store.accounts.list()).map(view) };
    })
    .post('/users', async (ctx) => {
      const account = await toAccount(await readJsonObject(ctx), now());
      if (!(await store.accounts.create(account))) throw new HttpError(409, 'invalid_request', `a user named "${account.username}" already exists`);
      ctx.status = 201;
      ctx.set('Location', `${ctx.path}/${account.username}`);
      ctx.body = view(account);
    })
    .get('/users/:username', async (ctx) => {
      const { username } = ctx.params;
      const account = await store.accounts.findByUsername(username!);
      if (!account) throw notFound(`no user "${username}"`);
      ctx.body = view(account);
    })
    .delete('/users/:username', async (ctx) => {
      const { username } = ctx.params;
      if (!(await store.accounts.remove(username!))) throw notFound(`no user "${username}"`);
      ctx.status = 204;
    });
}
