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

test('a session idle for longer than idleTimeoutMs is gone; every use (touch, set) restarts the timeout', async () => {
  let clock = 1_000_000;
  const store = new LruSessionStore({ max: 10, idleTimeoutMs: 60_000, now: () => clock });
  const get = promisify(store.get.bind(store));
  store.set('used', data(1));
  store.set('idle', data(2));
  clock += 59_000;
  store.touch('used', data(1));
  clock += 1_000;
  assert.equal((await get('idle'))?.csrfToken, 'n2', 'still there 60 s after its last use');
  clock += 1;
  assert.equal(await get('idle'), null, 'gone once more than 60 s passed');
  clock += 58_000;
  store.set('used', data(3));
  clock += 60_000;
  assert.equal((await get('used'))?.csrfToken, 'n3');
  clock += 1;
  assert.equal(await get('used'), null);
  assert.equal(store.size, 0);
});
