import assert from 'node:assert/strict';
import { test } from 'node:test';
import { promisify } from 'node:util';
import type { SessionData } from 'express-session';
import { LruSessionStore } from '../../src/web/sessionStore.ts';

const data = (n: number) => ({ cookie: { originalMaxAge: null }, csrfToken: `n${n}` }) as unknown as SessionData;

test('holds at most `max` sessions, evicting the least recently used', async () => {
  const store = new LruSessionStore({ max: 2, idleTimeoutMs: 60_000 });
  const get = promisify(store.get.bind(store));
  store.set('a', data(1));
  store.set('b', data(2));
  await get('a');
  store.set('c', data(3));
  assert.equal(await get('b'), null);
  assert.equal((await get('a'))?.csrfToken, 'n1');
  assert.equal(await promisify(store.length.bind(store))(), 2);
});

test('returns a copy: changing a loaded session does not change the stored one until set', async () => {
  const store = new LruSessionStore({ max: 10, idleTimeoutMs: 60_000 });
  const get = promisify(store.get.bind(store));
  store.set('a', data(1));
  const loaded = (await get('a'))!;
  loaded.csrfToken = 'changed';
  assert.equal((await get('a'))?.csrfToken, 'n1');
  store.destroy('a');
  assert.equal(await get('a'), null);
});
