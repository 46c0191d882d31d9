import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { InvalidToken } from '../../src/auth/errors.ts';
import { assertTokenShape, bearerTokenOf, isJwtShaped, MAX_TOKEN_LENGTH } from '../../src/auth/tokenShape.ts';

const isInvalidToken = (description: string) => (err: unknown) => {
  assert.ok(err instanceof InvalidToken);
  assert.equal(err.error_description, description);
  return true;
};

describe('bearerTokenOf', () => {
  it('returns the b64token of a Bearer header, whatever the case of the scheme and the number of spaces', () => {
    assert.equal(bearerTokenOf('Bearer abc'), 'abc');
    assert.equal(bearerTokenOf('bEaReR   A-z0._~+/9=='), 'A-z0._~+/9==');
    assert.equal(bearerTokenOf('Bearer aaa.bbb.ccc'), 'aaa.bbb.ccc');
  });

  it('returns undefined for anything else', () => {
    for (const header of ['Basic abc', 'Bearer', 'Bearer ', 'Bearer a b', 'Bearer ab"c', 'Bearer a,b', 'Bearerabc', 'Bearer\tabc', 'Bearer a=b', ' Bearer abc', 'Bearer abc ', '']) {
      assert.equal(bearerTokenOf(header), undefined, JSON.stringify(header));
    }
  });
});

describe('assertTokenShape', () => {
  it(`accepts a b64token of up to ${MAX_TOKEN_LENGTH} characters`, () => {
    assertTokenShape('a'.repeat(MAX_TOKEN_LENGTH));
    assertTokenShape('A-z0._~+/9==');
  });

  it('rejects a longer token as too long, and a non-b64token as malformed', () => {
    assert.throws(() => assertTokenShape('a'.repeat(MAX_TOKEN_LENGTH + 1)), isInvalidToken('the token is too long'));
    for (const token of ['', 'abc"def', 'a b', 'a=b', '=', 'é']) {
      assert.throws(() => assertTokenShape(token), isInvalidToken('the token is malformed'), JSON.stringify(token));
    }
  });
});

describe('isJwtShaped', () => {
  it('tells JWS compact tokens from opaque ones', () => {
    assert.equal(isJwtShaped('eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.'), true);
    assert.equal(isJwtShaped('aaa.bbb.ccc'), true);
    assert.equal(isJwtShaped('XyZ-opaque_token'), false);
    assert.equal(isJwtShaped('a.b'), false);
    assert.equal(isJwtShaped('a.b.c.d'), false);
    assert.equal(isJwtShaped('a+b.c.d'), false);
  });
});
