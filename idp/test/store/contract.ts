// The store contract, one suite for every store. A fixture supplies the store and a way to move time:
// the SQLite store takes an injected clock the fixture moves; the PostgreSQL store reads the database's
// now(), so its fixture moves the stored times back instead (the same thing, seen from a row).
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { getEventListeners } from 'node:events';
import { afterEach, beforeEach, describe, test } from 'node:test';
import type { AdapterPayload } from 'oidc-provider';
import { settlesWithin } from '../../../test/support/wait.ts';
import { EVENT_TYPES, EVENTS_SUPPORTED } from '../../src/ssf/eventTypes.ts';
import type { RevocationFact, Store, StoredStream, StreamStatus, StreamStore } from '../../src/store/types.ts';

/** The `eventRetentionSeconds` every fixture opens its store with. */
export const EVENT_RETENTION_SECONDS = 3600;

export type StoreFixture = {
  store: Store;
  /** Moves the store's notion of "now" forward by whole seconds. */
  advance(seconds: number): Promise<void>;
  /** The store's current time in whole seconds (what `consume` records). */
  nowSeconds(): Promise<number>;
  /** Closes the store and opens it again over the same data. */
  reopen(): Promise<Store>;
  /** Closes the store and removes its data. */
  close(): Promise<void>;
};

const token = (extra: AdapterPayload = {}): AdapterPayload => ({ kind: 'ClientCredentials', jti: 'x', clientId: 'client-a', scope: 'service.api', ...extra });

export function storeContract(name: string, open: () => Promise<StoreFixture>): void {
  describe(`${name} store contract`, () => {
    let fixture: StoreFixture;
    let store: Store;
    const advance = (seconds: number) => fixture.advance(seconds);
    beforeEach(async () => {
      fixture = await open();
      store = fixture.store;
    });
    afterEach(() => fixture.close());

    describe(`${name} store adapter`, () => {
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

      test('an id containing NUL is simply not found (no error), and nothing is destroyed', async () => {
        const adapter = store.adapter('AccessToken');
        await adapter.upsert('t1', token(), 600);
        assert.equal(await adapter.find('t1\0'), undefined);
        assert.equal(await adapter.findByUid('u\0'), undefined);
        assert.equal(await adapter.findByUserCode('c\0'), undefined);
        await adapter.destroy('t1\0');
        await adapter.consume('t1\0');
        await adapter.revokeByGrantId('g\0');
        assert.deepEqual(await adapter.find('t1'), token());
        assert.equal(await store.accounts.findBySub('s\0'), undefined);
        assert.equal(await store.accounts.findByUsername('u\0'), undefined);
      });

      test('a payload with NUL and other odd characters in a request parameter round-trips', async () => {
        const adapter = store.adapter('Interaction');
        const payload = { uid: 'i-1', params: { state: 'a\u0000b\u2028c"\\\ud83d\ude00', client_id: 'web' }, exp: 1 };
        await adapter.upsert('i-1', payload, 600);
        assert.deepEqual(await adapter.find('i-1'), payload);
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
        await advance(9);
        assert.ok(await adapter.find('tok-1'), 'still live one second before expiry');
        await advance(1);
        assert.equal(await adapter.find('tok-1'), undefined, 'expired when now == expires');
        await advance(1000);
        assert.equal(await adapter.find('tok-1'), undefined);
      });

      test('upsert again renews the expiry', async () => {
        const adapter = store.adapter('Session');
        await adapter.upsert('s1', { uid: 'u1' }, 10);
        await advance(9);
        await adapter.upsert('s1', { uid: 'u1' }, 10);
        await advance(9);
        assert.deepEqual(await adapter.find('s1'), { uid: 'u1' });
      });

      test('a row upserted without expiresIn never expires', async () => {
        const adapter = store.adapter('Client');
        await adapter.upsert('c1', { client_id: 'c1' });
        await advance(10 * 365 * 24 * 3600);
        assert.deepEqual(await adapter.find('c1'), { client_id: 'c1' });
      });

      test('consume sets consumed to the current time in seconds and keeps the rest of the payload', async () => {
        const adapter = store.adapter('AuthorizationCode');
        await adapter.upsert('code-1', { clientId: 'a', grantId: 'g1' }, 60);
        await advance(5);
        const before = await fixture.nowSeconds();
        await adapter.consume('code-1');
        const after = await fixture.nowSeconds();
        const { consumed, ...rest } = (await adapter.find('code-1'))!;
        assert.deepEqual(rest, { clientId: 'a', grantId: 'g1' });
        assert.equal(typeof consumed, 'number');
        assert.ok(before <= (consumed as number) && (consumed as number) <= after, `${before} <= ${consumed} <= ${after}`);
      });

      test('a consumed row upserted again without consumed is no longer consumed', async () => {
        const adapter = store.adapter('RefreshToken');
        await adapter.upsert('r1', { clientId: 'a' }, 60);
        await adapter.consume('r1');
        await adapter.upsert('r1', { clientId: 'a', rotated: true }, 60);
        assert.deepEqual(await adapter.find('r1'), { clientId: 'a', rotated: true });
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
        await advance(30);
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
      // A store may answer finds from memory: whatever was read before a write, the next find sees it.
      test('every write is seen by the next find, whatever an earlier find returned', async () => {
        const tokens = store.adapter('AccessToken');
        const clients = store.adapter('Client');
        assert.equal(await clients.find('late'), undefined);
        await store.createClient('late', { client_id: 'late' });
        assert.deepEqual(await clients.find('late'), { client_id: 'late' });
        await tokens.upsert('t1', token({ grantId: 'g1' }), 600);
        await tokens.upsert('t2', token({ clientId: 'late' }), 600);
        await tokens.upsert('t3', token(), 600);
        assert.ok((await tokens.find('t1')) && (await tokens.find('t2')) && (await tokens.find('t3')));
        await tokens.consume('t3');
        assert.equal(typeof (await tokens.find('t3'))!.consumed, 'number');
        await tokens.upsert('t3', token({ scope: 'other' }), 600);
        assert.deepEqual(await tokens.find('t3'), token({ scope: 'other' }));
        await tokens.revokeByGrantId('g1');
        assert.equal(await tokens.find('t1'), undefined);
        await store.deleteClient('late');
        assert.equal(await clients.find('late'), undefined);
        assert.equal(await tokens.find('t2'), undefined);
        await tokens.destroy('t3');
        assert.equal(await tokens.find('t3'), undefined);
      });
    });

    describe(`${name} store clients`, () => {
      test('createClient registers a client once and returns false when the id is taken', async () => {
        assert.equal(await store.createClient('c1', { client_id: 'c1', client_secret: 's1' }), true);
        assert.equal(await store.createClient('c1', { client_id: 'c1', client_secret: 's2' }), false);
        assert.deepEqual(await store.adapter('Client').find('c1'), { client_id: 'c1', client_secret: 's1' }, 'the first registration wins');
      });

      test('createClient of the same id at the same moment succeeds exactly once', async () => {
        const results = await Promise.all([1, 2, 3, 4].map((n) => store.createClient('race', { client_id: 'race', n })));
        assert.equal(results.filter(Boolean).length, 1);
      });

      test('listClients returns every client oldest first', async () => {
        await store.createClient('b', { client_id: 'b' });
        await advance(1);
        await store.createClient('a', { client_id: 'a' });
        assert.deepEqual(await store.listClients(), [{ client_id: 'b' }, { client_id: 'a' }]);
      });

      test('deleteClient removes the client and every row issued to it, and nothing else', async () => {
        await store.createClient('c1', { client_id: 'c1' });
        await store.createClient('c2', { client_id: 'c2' });
        await store.adapter('ClientCredentials').upsert('t1', token({ clientId: 'c1' }), 600);
        await store.adapter('Grant').upsert('g1', { clientId: 'c1', accountId: 'u' }, 600);
        await store.adapter('ClientCredentials').upsert('t2', token({ clientId: 'c2' }), 600);
        assert.equal(await store.deleteClient('c1'), true);
        assert.equal(await store.adapter('Client').find('c1'), undefined);
        assert.equal(await store.adapter('ClientCredentials').find('t1'), undefined);
        assert.equal(await store.adapter('Grant').find('g1'), undefined);
        assert.ok(await store.adapter('Client').find('c2'));
        assert.ok(await store.adapter('ClientCredentials').find('t2'));
        assert.equal(await store.deleteClient('c1'), false, 'deleting again reports nothing deleted');
      });

      test('deleteClient of an unknown client deletes nothing, not even tokens naming it', async () => {
        await store.adapter('ClientCredentials').upsert('t1', token({ clientId: 'ghost' }), 600);
        assert.equal(await store.deleteClient('ghost'), false);
        assert.ok(await store.adapter('ClientCredentials').find('t1'));
      });
    });

    describe(`${name} store accounts`, () => {
      const alice = { sub: 'sub-alice', username: 'alice', passwordHash: 'scrypt$x', name: 'Alice', email: 'alice@example.test', createdAt: 1_900_000_000 };
      const bob = { sub: 'sub-bob', username: 'bob', passwordHash: 'scrypt$y', name: null, email: null, createdAt: 1_900_000_001 };

      test('create stores an account once; a taken username or sub is refused', async () => {
        assert.equal(await store.accounts.create(alice), true);
        assert.equal(await store.accounts.create({ ...alice, sub: 'other' }), false, 'same username');
        assert.equal(await store.accounts.create({ ...alice, username: 'alice2' }), false, 'same sub');
        assert.deepEqual(await store.accounts.findByUsername('alice'), alice);
        assert.deepEqual(await store.accounts.findBySub('sub-alice'), alice);
        assert.equal(await store.accounts.findByUsername('alice2'), undefined);
      });

      test('list returns accounts oldest first; remove deletes one and reports whether it existed', async () => {
        await store.accounts.create(bob);
        await store.accounts.create(alice);
        assert.deepEqual(await store.accounts.list(), [alice, bob]);
        assert.equal(await store.accounts.remove('alice'), true);
        assert.equal(await store.accounts.remove('alice'), false);
        assert.deepEqual(await store.accounts.list(), [bob]);
        assert.equal(await store.accounts.findBySub('sub-alice'), undefined);
      });

      test('remove deletes every session, grant, token, code and interaction of the subject at once, and nothing of anyone else', async () => {
        await store.accounts.create(alice);
        await store.accounts.create(bob);
        const ofAlice: [string, string, AdapterPayload][] = [
          ['Session', 's-a', { uid: 'u-a', accountId: 'sub-alice', authorizations: { web: { grantId: 'g-a' } } }],
          ['Grant', 'g-a', { clientId: 'web', accountId: 'sub-alice' }],
          ['AccessToken', 'at-a', { clientId: 'web', accountId: 'sub-alice', grantId: 'g-a' }],
          ['RefreshToken', 'rt-a', { clientId: 'web', accountId: 'sub-alice', grantId: 'g-a' }],
          ['AuthorizationCode', 'ac-a', { clientId: 'web', accountId: 'sub-alice', grantId: 'g-a' }],
          ['Interaction', 'i-a', { uid: 'i-a', session: { uid: 'u-a', accountId: 'sub-alice' }, params: { client_id: 'web' } }],
          ['Interaction', 'i-a2', { uid: 'i-a2', result: { login: { accountId: 'sub-alice' } }, params: { client_id: 'web' } }],
        ];
        const ofOthers: [string, string, AdapterPayload][] = [
          ['Session', 's-b', { uid: 'u-b', accountId: 'sub-bob' }],
          ['AccessToken', 'at-b', { clientId: 'web', accountId: 'sub-bob', grantId: 'g-b' }],
          ['ClientCredentials', 'cc', token()],
          ['Interaction', 'i-anon', { uid: 'i-anon', params: { client_id: 'web', state: 'sub-alice' } }],
        ];
        for (const [model, id, payload] of [...ofAlice, ...ofOthers]) await store.adapter(model).upsert(id, payload, 600);
        for (const [model, id] of ofAlice) assert.ok(await store.adapter(model).find(id), `${model} ${id} is stored (and read once)`);
        assert.equal(await store.accounts.remove('alice'), true);
        for (const [model, id] of ofAlice) assert.equal(await store.adapter(model).find(id), undefined, `${model} ${id} is gone`);
        assert.equal(await store.adapter('Session').findByUid('u-a'), undefined);
        for (const [model, id, payload] of ofOthers) assert.deepEqual(await store.adapter(model).find(id), payload, `${model} ${id} is kept`);
        assert.deepEqual(await store.accounts.list(), [bob]);
      });
    });

    describe(`${name} store shared signals`, () => {
      let streams: StreamStore;
      beforeEach(() => {
        streams = store.streams!;
      });
      const sha256 = (value: string) => createHash('sha256').update(value).digest('base64url');
      const openStream = async (id: string, { status = 'enabled' as StreamStatus, events = [...EVENTS_SUPPORTED] as string[], inactivity = undefined as number | undefined, clientId = 'receiver' } = {}) => {
        const at = await fixture.nowSeconds();
        const stream: StoredStream = {
          id,
          clientId,
          status,
          reason: null,
          config: { stream_id: id, aud: clientId, events_requested: events, events_delivered: events, ...(inactivity ? { inactivity_timeout: inactivity } : {}) },
          createdAt: at,
          lastPolledAt: at,
        };
        await streams.create(stream);
        return stream;
      };
      const factsOf = async (id: string) => (await streams.poll(id, 1000)).map((e) => e.fact);
      const drain = async (id: string) => {
        const events = await streams.poll(id, 1000);
        await streams.acknowledge(id, events.map((e) => e.jti));
        return events.map((e) => e.fact);
      };
      /** Whether `promise` has settled after a few turns of the event loop (and, for PostgreSQL, a round trip). */
      const settled = async (promise: Promise<unknown>) => {
        let done = false;
        void promise.then(() => (done = true));
        await fixture.nowSeconds();
        for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
        return done;
      };
      /** Whether `promise` settles within a bound (a wake-up through PostgreSQL's NOTIFY takes a round trip or two). */
      const wakes = (promise: Promise<unknown>, ms = 3000) => settlesWithin(promise, ms);

      test('streams are stored, listed per receiver oldest first, updated and removed', async () => {
        const a = await openStream('s-a', { clientId: 'rx-1' });
        assert.deepEqual(await streams.find('s-a'), a);
        await advance(1);
        const b = await openStream('s-b', { clientId: 'rx-1', status: 'paused' });
        await openStream('s-c', { clientId: 'rx-2' });
        assert.equal(await streams.find('nope'), undefined);
        assert.deepEqual((await streams.listForClient('rx-1')).map((s) => s.id), ['s-a', 's-b']);
        assert.deepEqual(await streams.listForClient('rx-3'), []);
        const changed = { ...b, status: 'disabled' as const, reason: 'maintenance', config: { ...b.config, description: 'x' } };
        assert.equal(await streams.update(changed), true);
        assert.deepEqual(await streams.find('s-b'), changed);
        assert.equal(await streams.update({ ...changed, id: 'nope' }), false);
        assert.equal(await streams.remove('s-a'), true);
        assert.equal(await streams.remove('s-a'), false);
        assert.equal(await streams.find('s-a'), undefined);
        await streams.create(a);
        await assert.rejects(streams.create(a), 'a stream id is unique');
      });

      test('a revocation is queued for enabled and paused streams that take its type, not for disabled ones', async () => {
        await openStream('all');
        await openStream('paused', { status: 'paused' });
        const disabled = await openStream('disabled', { status: 'disabled' });
        await openStream('sessions-only', { events: [EVENT_TYPES.sessionRevoked] });
        await store.adapter('AccessToken').upsert('at-1', token({ clientId: 'web', accountId: 'sub-1' }), 600);
        await store.adapter('AccessToken').destroy('at-1');
        const revoked: RevocationFact = { kind: 'token-revoked', tokenType: 'access_token', tokenHash: sha256('at-1'), sub: 'sub-1', clientId: 'web' };
        assert.deepEqual(await factsOf('all'), [revoked]);
        assert.deepEqual(await factsOf('sessions-only'), [], 'a type the stream did not ask for is not queued');
        assert.deepEqual(await factsOf('paused'), [], 'a paused stream delivers nothing');
        await streams.update({ ...(await streams.find('paused'))!, status: 'enabled' });
        assert.deepEqual(await factsOf('paused'), [revoked], 'a paused stream held its event until enabled');
        await streams.update({ ...disabled, status: 'enabled' });
        assert.deepEqual(await factsOf('disabled'), [], 'a disabled stream dropped it');
      });

      test('poll delivers oldest first, at most max, again until acknowledged; ack deletes only that stream\'s events', async () => {
        await openStream('s1');
        await openStream('s2');
        await streams.enqueue('s1', [{ kind: 'verification', state: '1' }, { kind: 'verification', state: '2' }]);
        await streams.enqueue('s1', [{ kind: 'verification', state: '3' }]);
        await streams.enqueue('s2', [{ kind: 'verification', state: 'other' }]);
        await streams.enqueue('nope', [{ kind: 'verification', state: 'lost' }]);
        const first = await streams.poll('s1', 2);
        assert.deepEqual(first.map((e) => e.fact), [{ kind: 'verification', state: '1' }, { kind: 'verification', state: '2' }]);
        assert.deepEqual(await streams.poll('s1', 2), first, 'unacknowledged events come back, same jti and iat');
        const all = await streams.poll('s1', 10);
        assert.equal(new Set(all.map((e) => e.jti)).size, 3, 'each event its own jti');
        const now = await fixture.nowSeconds();
        for (const e of all) assert.ok(Math.abs(e.iat - now) <= 2, `iat ${e.iat} is the time it was queued (${now})`);
        const other = await streams.poll('s2', 10);
        await streams.acknowledge('s2', [first[0]!.jti]);
        assert.equal((await streams.poll('s1', 10)).length, 3, 'another stream\'s ack deletes nothing here');
        await streams.acknowledge('s1', [first[0]!.jti, 'unknown-jti']);
        assert.deepEqual((await streams.poll('s1', 10)).map((e) => e.fact), [{ kind: 'verification', state: '2' }, { kind: 'verification', state: '3' }]);
        assert.deepEqual(await streams.poll('s2', 10), other);
        assert.deepEqual(await streams.poll('s1', 0), []);
      });

      test('poll marks the stream polled', async () => {
        await openStream('s1');
        await advance(50);
        const before = await fixture.nowSeconds();
        await streams.poll('s1', 1);
        const polledAt = (await streams.find('s1'))!.lastPolledAt;
        assert.ok(before <= polledAt && polledAt <= (await fixture.nowSeconds()), `polled at ${polledAt}, now ${before}`);
      });

      test('destroying a token queues one token-revoked naming its hash, subject and client; other destroys queue nothing', async () => {
        await openStream('s');
        await store.adapter('AccessToken').upsert('at', token({ clientId: 'web', accountId: 'sub-1', grantId: 'g' }), 600);
        await store.adapter('ClientCredentials').upsert('cc', token({ clientId: 'svc' }), 600);
        await store.adapter('RefreshToken').upsert('rt', token({ clientId: 'web', accountId: 'sub-1', grantId: 'g' }), 600);
        await store.adapter('AuthorizationCode').upsert('code', token({ clientId: 'web', accountId: 'sub-1', grantId: 'g' }), 600);
        await store.adapter('Session').upsert('sess', { uid: 'u', accountId: 'sub-1' }, 600);
        await store.adapter('AccessToken').destroy('at');
        await store.adapter('ClientCredentials').destroy('cc');
        await store.adapter('RefreshToken').destroy('rt');
        await store.adapter('AccessToken').destroy('never-issued');
        await store.adapter('AuthorizationCode').destroy('code');
        await store.adapter('Session').destroy('sess');
        assert.deepEqual(await drain('s'), [
          { kind: 'token-revoked', tokenType: 'access_token', tokenHash: sha256('at'), sub: 'sub-1', clientId: 'web' },
          { kind: 'token-revoked', tokenType: 'access_token', tokenHash: sha256('cc'), clientId: 'svc' },
          { kind: 'token-revoked', tokenType: 'refresh_token', tokenHash: sha256('rt'), sub: 'sub-1', clientId: 'web' },
        ]);
        await store.adapter('AccessToken').destroy('at');
        assert.deepEqual(await factsOf('s'), [], 'destroying it again is no new revocation');
      });

      // As oidc-provider's helpers/revoke.js does: every model's revokeByGrantId and the Grant's destroy at once.
      const revokeGrant = (grantId: string, { destroyGrant = true } = {}) =>
        Promise.all([
          ...['AccessToken', 'RefreshToken', 'AuthorizationCode', 'DeviceCode', 'BackchannelAuthenticationRequest'].map((m) => store.adapter(m).revokeByGrantId(grantId)),
          destroyGrant ? store.adapter('Grant').destroy(grantId) : undefined,
        ]);

      test('a grant revoked across every model queues exactly one session-revoked for its subject and client', async () => {
        await openStream('s');
        const of = { clientId: 'web', accountId: 'sub-1', grantId: 'g1' };
        await store.adapter('Grant').upsert('g1', { clientId: 'web', accountId: 'sub-1' }, 600);
        await store.adapter('AccessToken').upsert('at-1', token(of), 600);
        await store.adapter('AccessToken').upsert('at-2', token(of), 600);
        await store.adapter('RefreshToken').upsert('rt-1', token(of), 600);
        await store.adapter('AuthorizationCode').upsert('ac-1', token(of), 600);
        await store.adapter('AccessToken').upsert('at-other', token({ ...of, grantId: 'g2' }), 600);
        await revokeGrant('g1');
        assert.deepEqual(await drain('s'), [{ kind: 'session-revoked', sub: 'sub-1', clientId: 'web' }]);
        assert.equal(await store.adapter('AccessToken').find('at-1'), undefined);
        assert.ok(await store.adapter('AccessToken').find('at-other'));
        await revokeGrant('g1');
        assert.deepEqual(await factsOf('s'), [], 'nothing of the grant is left: no event');
      });

      test('a grant kept by revokeGrantPolicy but with its tokens revoked, one known only by its refresh token, or one destroyed alone, queues one session-revoked', async () => {
        await openStream('s');
        await store.adapter('Grant').upsert('g1', { clientId: 'web', accountId: 'sub-1' }, 600);
        await store.adapter('AccessToken').upsert('at-1', token({ clientId: 'web', accountId: 'sub-1', grantId: 'g1' }), 600);
        await revokeGrant('g1', { destroyGrant: false });
        await store.adapter('RefreshToken').upsert('rt-2', token({ clientId: 'app', accountId: 'sub-2', grantId: 'g2' }), 600);
        await revokeGrant('g2');
        await store.adapter('Grant').upsert('g3', { clientId: 'cli', accountId: 'sub-3' }, 600);
        await store.adapter('Grant').destroy('g3');
        await store.adapter('Grant').destroy('g3');
        assert.deepEqual(await drain('s'), [
          { kind: 'session-revoked', sub: 'sub-1', clientId: 'web' },
          { kind: 'session-revoked', sub: 'sub-2', clientId: 'app' },
          { kind: 'session-revoked', sub: 'sub-3', clientId: 'cli' },
        ]);
      });

      test('deleting a client queues one client-deleted, removing an account one account-purged; unknown ones nothing', async () => {
        await openStream('s');
        await store.createClient('web', { client_id: 'web' });
        await store.adapter('AccessToken').upsert('at-1', token({ clientId: 'web', accountId: 'sub-alice', grantId: 'g' }), 600);
        await store.accounts.create({ sub: 'sub-alice', username: 'alice', passwordHash: 'x', name: null, email: null, createdAt: 1 });
        await store.adapter('AccessToken').upsert('at-2', token({ clientId: 'other', accountId: 'sub-alice', grantId: 'g' }), 600);
        assert.equal(await store.deleteClient('web'), true);
        assert.equal(await store.deleteClient('web'), false);
        assert.equal(await store.accounts.remove('alice'), true);
        assert.equal(await store.accounts.remove('alice'), false);
        assert.deepEqual(await drain('s'), [
          { kind: 'client-deleted', clientId: 'web' },
          { kind: 'account-purged', sub: 'sub-alice' },
        ]);
      });

      test('revokeJwt remembers the jti until exp and queues one jwt-revoked as a token-revoked event', async () => {
        await openStream('s', { events: [EVENT_TYPES.tokenRevoked] });
        await openStream('accounts-only', { events: [EVENT_TYPES.accountPurged] });
        const exp = (await fixture.nowSeconds()) + 10; // margins: the PostgreSQL store's clock runs on
        const fact = { kind: 'jwt-revoked' as const, jti: 'jwt-1', exp, sub: 'sub-1', clientId: 'web' };
        assert.equal(await streams.isJwtRevoked('jwt-1'), false);
        await streams.revokeJwt(fact);
        await streams.revokeJwt(fact);
        assert.equal(await streams.isJwtRevoked('jwt-1'), true);
        assert.equal(await streams.isJwtRevoked('jwt-2'), false);
        assert.deepEqual(await drain('s'), [fact], 'revoked twice, one event');
        assert.deepEqual(await factsOf('accounts-only'), []);
        await advance(7);
        assert.equal(await streams.isJwtRevoked('jwt-1'), true);
        await advance(3);
        assert.equal(await streams.isJwtRevoked('jwt-1'), false, 'past exp the token is refused by its exp anyway');
        assert.equal(await store.purgeExpired(), 1, 'the expired jti is purged');
      });

      test('queued events and streams survive closing and reopening the store', async () => {
        await openStream('s');
        await store.adapter('RefreshToken').upsert('rt', token({ clientId: 'web' }), 600);
        await store.adapter('RefreshToken').destroy('rt');
        await streams.revokeJwt({ kind: 'jwt-revoked', jti: 'j', exp: (await fixture.nowSeconds()) + 600 });
        store = await fixture.reopen();
        streams = store.streams!;
        assert.ok(await streams.find('s'));
        assert.deepEqual((await factsOf('s')).map((f) => f.kind), ['token-revoked', 'jwt-revoked']);
        assert.equal(await streams.isJwtRevoked('j'), true);
      });

      test('waitForEvents wakes on an event for its stream, at once if one is queued, and on abort, leaving no listener behind', async () => {
        await openStream('s');
        await openStream('other');
        const controller = new AbortController();
        const waiting = streams.waitForEvents('s', controller.signal);
        assert.equal(await settled(waiting), false, 'nothing queued: it waits');
        await streams.enqueue('other', [{ kind: 'verification' }]);
        assert.equal(await settled(waiting), false, 'an event of another stream does not wake it');
        await store.adapter('AccessToken').upsert('at', token(), 600);
        await store.adapter('AccessToken').destroy('at');
        assert.equal(await wakes(waiting), true, 'a revocation wakes it');
        assert.equal(getEventListeners(controller.signal, 'abort').length, 0, 'the abort listener is removed');

        assert.equal(await wakes(streams.waitForEvents('s', new AbortController().signal)), true, 'an event is queued already: no wait');
        await drain('s');
        const aborted = new AbortController();
        const waitingToo = streams.waitForEvents('s', aborted.signal);
        assert.equal(await settled(waitingToo), false);
        aborted.abort();
        assert.equal(await wakes(waitingToo), true, 'abort ends the wait');
        assert.equal(getEventListeners(aborted.signal, 'abort').length, 0);
        assert.equal(await settled(streams.waitForEvents('s', aborted.signal)), true, 'an aborted signal does not wait at all');
      });

      test('purge drops events older than the retention and tells each stream that lost some; and streams unpolled for their inactivity_timeout', async () => {
        await openStream('lossy');
        await openStream('acked');
        await openStream('idle', { inactivity: 100 });
        await openStream('polled', { inactivity: 100 });
        await streams.enqueue('lossy', [{ kind: 'verification', state: 'old' }]);
        await streams.enqueue('acked', [{ kind: 'verification', state: 'old' }]);
        await drain('acked');
        // Margins of a few seconds: the PostgreSQL store's clock (the database's now()) runs on meanwhile.
        await advance(95);
        await streams.poll('polled', 0);
        assert.equal(await store.purgeExpired(), 0);
        await advance(5);
        assert.equal(await store.purgeExpired(), 1, 'the idle stream');
        assert.equal(await streams.find('idle'), undefined);
        assert.ok(await streams.find('polled'), 'polled within its timeout');
        await streams.enqueue('lossy', [{ kind: 'verification', state: 'new' }]);
        await advance(EVENT_RETENTION_SECONDS - 100 - 5);
        await streams.poll('polled', 0);
        assert.equal(await store.purgeExpired(), 0);
        await advance(5);
        await streams.poll('polled', 0);
        assert.equal(await store.purgeExpired(), 1, 'the old event');
        assert.deepEqual(await factsOf('lossy'), [{ kind: 'verification', state: 'new' }, { kind: 'stream-updated', status: 'enabled', reason: 'events lost' }]);
        assert.deepEqual(await factsOf('acked'), [], 'nothing lost: nothing to tell');
      });
    });

    describe(`${name} store maintenance`, () => {
      test('purgeExpired removes only expired rows and returns how many', async () => {
        const adapter = store.adapter('AccessToken');
        await adapter.upsert('short-1', token(), 10);
        await adapter.upsert('short-2', token(), 20);
        await adapter.upsert('long', token(), 1000);
        await store.adapter('Client').upsert('c1', { client_id: 'c1' });
        assert.equal(await store.purgeExpired(), 0);
        await advance(20);
        assert.equal(await store.purgeExpired(), 2);
        assert.equal(await store.purgeExpired(), 0);
        await advance(1000);
        assert.equal(await store.purgeExpired(), 1);
        assert.deepEqual(await store.adapter('Client').find('c1'), { client_id: 'c1' }, 'rows without expiry are kept');
      });

      test('data survives closing and reopening the store', async () => {
        await store.createClient('c1', { client_id: 'c1', client_secret: 's' });
        await store.adapter('ClientCredentials').upsert('t1', token({ clientId: 'c1' }), 600);
        store = await fixture.reopen();
        assert.deepEqual(await store.listClients(), [{ client_id: 'c1', client_secret: 's' }]);
        assert.deepEqual(await store.adapter('ClientCredentials').find('t1'), token({ clientId: 'c1' }));
      });
    });
  });
}
