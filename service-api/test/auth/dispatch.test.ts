import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createAutoVerifier } from '../../src/auth/dispatch.ts';
import type { Principal, TokenVerifier } from '../../src/auth/principal.ts';

/** A verifier that records what it was asked; the real ones are tested in jwt.test.ts and introspect.test.ts. */
function recording(name: string): TokenVerifier & { seen: string[] } {
  const seen: string[] = [];
  return {
    seen,
    async verify(token) {
      seen.push(token);
      return { clientId: name, scopes: [], kind: 'machine', expiresAt: 1 } satisfies Principal;
    },
  };
}

describe('createAutoVerifier', () => {
  it('sends JWT-shaped tokens to the JWT verifier and every other token to introspection', async () => {
    const jwt = recording('jwt');
    const introspection = recording('introspection');
    const auto = createAutoVerifier({ jwt, introspection });
    assert.equal((await auto.verify('aaa.bbb.ccc')).clientId, 'jwt');
    assert.equal((await auto.verify('eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.')).clientId, 'jwt');
    assert.equal((await auto.verify('opaque-token')).clientId, 'introspection');
    assert.equal((await auto.verify('a.b.c.d')).clientId, 'introspection');
    assert.deepEqual(jwt.seen, ['aaa.bbb.ccc', 'eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.']);
    assert.deepEqual(introspection.seen, ['opaque-token', 'a.b.c.d']);
  });

  it('passes a rejection of the chosen verifier through unchanged', async () => {
    const refusal = new Error('refused');
    const auto = createAutoVerifier({ jwt: { verify: () => Promise.reject(refusal) }, introspection: recording('introspection') });
    await assert.rejects(auto.verify('aaa.bbb.ccc'), (err) => err === refusal);
  });
});
