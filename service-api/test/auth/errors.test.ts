import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { InvalidToken, MissingToken } from '../../src/auth/errors.ts';

describe('auth errors', () => {
  it('keeps WWW-Authenticate parameters to the characters RFC 6750 allows in a quoted string', () => {
    const err = new InvalidToken('bad "quote" \\ and\nnewline é');
    assert.deepEqual(err.headers('r'), {
      'WWW-Authenticate': 'Bearer realm="r", error="invalid_token", error_description="bad ?quote? ? and?newline ?"',
    });
    assert.deepEqual(err.toJSON(), { error: 'invalid_token', error_description: 'bad "quote" \\ and\nnewline é' });
  });

  it('names the class and carries no error code in the challenge for missing credentials', () => {
    const err = new MissingToken();
    assert.equal(err.name, 'MissingToken');
    assert.equal(err.status, 401);
    assert.deepEqual(err.headers('service-api'), { 'WWW-Authenticate': 'Bearer realm="service-api"' });
  });
});
