import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, test } from 'node:test';
import type { AdapterPayload } from 'oidc-provider';
import { openSqliteStore, type Store } from '../../src/store/sqlite.ts';

// A frozen clock the tests move by hand (milliseconds, like Date.now).
const T0 = Date.UTC(2030, 0, 1);
let clock = T0;
const now = () => clock;
const advance = (seconds: number) => (clock += seconds * 1000);

let store: Store;
beforeEach(() => {
  clock = T0;
  store = openSqliteStore(':memory:', { now });
});
afterEach(() => store.close());

const token = (extra: AdapterPayload = {}): AdapterPayload => ({ kind: 'ClientCredentials', jti: 'x', clientId: 'client-a', scope: 'service.api', ...extra });

describe('sqlite store adapter', () => {
  test('upsert then find returns the payload as stored', async () => {
    const adapter = store.adapter('ClientCredentials');
    const payload = token({ jti: 'tok-1' });
    await adapter.upsert('tok-1', payload, 600);
    assert.deepEqual(await adapter.find('tok-1'), payload);
  });

  test('find returns undefined for an unknown id and for the same id under another model', async () => {
    await store.adapter('ClientCredentials').upsert('tok-1', token(), 600);
    assert.equal(await store.adapter('ClientCredentials').find('nope'), undefined);
    assert.equal(await store.adapter('AccessToken').find('tok-1'), undefined);
  });

  test('upsert of an existing id replaces its payload', async () => {
    const adapter = store.adapter('Grant');
    await adapter.upsert('g1', { clientId: 'a', accountId: 'u1' }, 600);
    await adapter.upsert('g1', { clientId: 'a', accountId: 'u2' }, 600);
    assert.deepEqual(await adapter.find('g1'), { clientId: 'a', accountId: 'u2' });
  });

  test('a row is found until its expiry and not from the second it expires', async () => {
    const adapter = store.adapter('ClientCredentials');
    await adapter.upsert('tok-1', token(), 10);
    advance(9);
    assert.ok(await adapter.find('tok-1'), 'still live one second before expiry');
    advance(1);
    assert.equal(await adapter.find('tok-1'), undefined, 'expired when now == expires');
    advance(1000);
    assert.equal(await adapter.find('tok-1'), undefined);
  });

  test('a row upserted without expiresIn never expires', async () => {
    const adapter = store.adapter('Client');
    await adapter.upsert('c1', { client_id: 'c1' });
    advance(10 * 365 * 24 * 3600);
    assert.deepEqual(await adapter.find('c1'), { client_id: 'c1' });
  });

  test('consume sets consumed to the current time in seconds and keeps the rest of the payload', async () => {
    const adapter = store.adapter('AuthorizationCode');
    await adapter.upsert('code-1', { clientId: 'a', grantId: 'g1' }, 60);
    advance(5);
    await adapter.consume('code-1');
    assert.deepEqual(await adapter.find('code-1'), { clientId: 'a', grantId: 'g1', consumed: Math.floor(T0 / 1000) + 5 });
  });

  test('destroy removes only that row', async () => {
    const adapter = store.adapter('AccessToken');
    await adapter.upsert('t1', token(), 600);
    await adapter.upsert('t2', token(), 600);
    await adapter.destroy('t1');
    assert.equal(await adapter.find('t1'), undefined);
    assert.ok(await adapter.find('t2'));
  });

  test('findByUid finds a Session by its uid and honours expiry', async () => {
    const adapter = store.adapter('Session');
    const session = { uid: 'uid-1', accountId: 'alice', exp: 1 };
    await adapter.upsert('sess-1', session, 30);
    assert.deepEqual(await adapter.findByUid('uid-1'), session);
    assert.equal(await adapter.findByUid('uid-2'), undefined);
    assert.equal(await store.adapter('Interaction').findByUid('uid-1'), undefined, 'uid lookups stay within the model');
    advance(30);
    assert.equal(await adapter.findByUid('uid-1'), undefined);
  });

  test('findByUserCode finds a DeviceCode by its user code', async () => {
    const adapter = store.adapter('DeviceCode');
    const payload = { userCode: 'ABCD-EFGH', clientId: 'tv' };
    await adapter.upsert('dc-1', payload, 600);
    assert.deepEqual(await adapter.findByUserCode('ABCD-EFGH'), payload);
    assert.equal(await adapter.findByUserCode('ZZZZ-ZZZZ'), undefined);
  });

  test('revokeByGrantId removes only the rows of that model with that grant', async () => {
    const access = store.adapter('AccessToken');
    const refresh = store.adapter('RefreshToken');
    await access.upsert('a1', token({ grantId: 'g1' }), 600);
    await access.upsert('a2', token({ grantId: 'g2' }), 600);
    await refresh.upsert('r1', token({ grantId: 'g1' }), 600);
    await access.revokeByGrantId('g1');
    assert.equal(await access.find('a1'), undefined);
    assert.ok(await access.find('a2'), 'another grant is untouched');
    assert.ok(await refresh.find('r1'), 'another model with the same grant is untouched');
  });
});

describe('sqlite store clients', () => {
  test('createClient registers a client once and returns false when the id is taken', async () => {
    assert.equal(store.createClient('c1', { client_id: 'c1', client_secret: 's1' }), true);
    assert.equal(store.createClient('c1', { client_id: 'c1', client_secret: 's2' }), false);
    assert.deepEqual(await store.adapter('Client').find('c1'), { client_id: 'c1', client_secret: 's1' }, 'the first registration wins');
  });

  test('listClients returns every client oldest first', () => {
    store.createClient('b', { client_id: 'b' });
    advance(1);
    store.createClient('a', { client_id: 'a' });
    assert.deepEqual(store.listClients(), [{ client_id: 'b' }, { client_id: 'a' }]);
  });

  test('deleteClient removes the client and every row issued to it, and nothing else', async () => {
    store.createClient('c1', { client_id: 'c1' });
    store.createClient('c2', { client_id: 'c2' });
    await store.adapter('ClientCredentials').upsert('t1', token({ clientId: 'c1' }), 600);
    await store.adapter('Grant').upsert('g1', { clientId: 'c1', accountId: 'u' }, 600);
    await store.adapter('ClientCredentials').upsert('t2', token({ clientId: 'c2' }), 600);
    assert.equal(store.deleteClient('c1'), true);
    assert.equal(await store.adapter('Client').find('c1'), undefined);
    assert.equal(await store.adapter('ClientCredentials').find('t1'), undefined);
    assert.equal(await store.adapter('Grant').find('g1'), undefined);
    assert.ok(await store.adapter('Client').find('c2'));
    assert.ok(await store.adapter('ClientCredentials').find('t2'));
    assert.equal(store.deleteClient('c1'), false, 'deleting again reports nothing deleted');
  });

  test('deleteClient of an unknown client deletes nothing, not even tokens naming it', async () => {
    await store.adapter('ClientCredentials').upsert('t1', token({ clientId: 'ghost' }), 600);
    assert.equal(store.deleteClient('ghost'), false);
    assert.ok(await store.adapter('ClientCredentials').find('t1'));
  });
});

describe('sqlite store maintenance', () => {
  test('purgeExpired removes only expired rows and returns how many', async () => {
    const adapter = store.adapter('AccessToken');
    await adapter.upsert('short-1', token(), 10);
    await adapter.upsert('short-2', token(), 20);
    await adapter.upsert('long', token(), 1000);
    await store.adapter('Client').upsert('c1', { client_id: 'c1' });
    assert.equal(store.purgeExpired(), 0);
    advance(20);
    assert.equal(store.purgeExpired(), 2);
    assert.equal(store.purgeExpired(), 0);
    advance(1000);
    assert.equal(store.purgeExpired(), 1);
    assert.deepEqual(await store.adapter('Client').find('c1'), { client_id: 'c1' }, 'rows without expiry are kept');
  });

  test('data survives closing and reopening the file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'idp-store-'));
    try {
      const file = join(dir, 'nested', 'idp.sqlite');
      const first = openSqliteStore(file, { now });
      first.createClient('c1', { client_id: 'c1', client_secret: 's' });
      await first.adapter('ClientCredentials').upsert('t1', token({ clientId: 'c1' }), 600);
      first.close();
      const second = openSqliteStore(file, { now });
      try {
        assert.deepEqual(second.listClients(), [{ client_id: 'c1', client_secret: 's' }]);
        assert.deepEqual(await second.adapter('ClientCredentials').find('t1'), token({ clientId: 'c1' }));
      } finally {
        second.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
