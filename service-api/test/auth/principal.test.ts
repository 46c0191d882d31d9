import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { InvalidToken } from '../../src/auth/errors.ts';
import { principalFromClaims } from '../../src/auth/principal.ts';

const isInvalidToken = (description: string) => (err: unknown) => {
  assert.ok(err instanceof InvalidToken);
  assert.equal(err.error_description, description);
  return true;
};

describe('principalFromClaims', () => {
  it('makes a frozen user principal of a token with a subject', () => {
    const principal = principalFromClaims({ sub: 'alice', client_id: 'web', scope: 'openid  service.api', exp: 1_900_000_000 });
    assert.deepEqual(principal, { subject: 'alice', clientId: 'web', scopes: ['openid', 'service.api'], kind: 'user', expiresAt: 1_900_000_000 });
    assert.ok(Object.isFrozen(principal) && Object.isFrozen(principal.scopes));
  });

  it('makes a machine principal, without subject, when sub is absent, empty or the client itself', () => {
    const machine = { clientId: 'solutrix-api', scopes: ['service.api'], kind: 'machine', expiresAt: 1_900_000_000 };
    for (const sub of [undefined, '', 'solutrix-api']) {
      assert.deepEqual(principalFromClaims({ sub, client_id: 'solutrix-api', scope: 'service.api', exp: 1_900_000_000 }), machine, String(sub));
    }
  });

  it('carries the act chain of an exchanged token as actor (RFC 8693 §4.1), nested as the token has it', () => {
    const act = { sub: 'b-svc', act: { sub: 'a-svc' } };
    const principal = principalFromClaims({ sub: 'alice', client_id: 'b-svc', scope: 'c.read', exp: 1, act });
    assert.deepEqual(principal, { subject: 'alice', clientId: 'b-svc', scopes: ['c.read'], kind: 'user', expiresAt: 1, actor: act });
    assert.ok(Object.isFrozen(principal.actor) && Object.isFrozen(principal.actor!.act));
  });

  it('refuses a malformed act claim: not an object, no sub, nested too deep', () => {
    let deep: Record<string, unknown> = { sub: 'x' };
    for (let i = 0; i < 8; i++) deep = { sub: `x${i}`, act: deep };
    for (const act of ['a-svc', { client_id: 'a-svc' }, { sub: 'b', act: { sub: '' } }, deep]) {
      assert.throws(() => principalFromClaims({ sub: 'alice', client_id: 'b', exp: 1, act }), isInvalidToken('the token has a malformed act claim'), JSON.stringify(act));
    }
  });

  it('has no scopes when scope is absent or not a string', () => {
    assert.deepEqual(principalFromClaims({ client_id: 'c', exp: 1 }).scopes, []);
    assert.deepEqual(principalFromClaims({ client_id: 'c', exp: 1, scope: ['service.api'] }).scopes, []);
  });

  it('rejects claims without a numeric exp or a client_id', () => {
    for (const exp of [undefined, '1900000000', Number.NaN, Number.POSITIVE_INFINITY]) {
      assert.throws(() => principalFromClaims({ client_id: 'c', exp }), isInvalidToken('the token has no expiry'), String(exp));
    }
    for (const client_id of [undefined, '', 42]) {
      assert.throws(() => principalFromClaims({ client_id, exp: 1 }), isInvalidToken('the token has no client'), String(client_id));
    }
  });
});
