import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import * as kit from '../../src/auth/index.ts';

const AUTH_DIR = new URL('../../src/auth/', import.meta.url);

describe('the verifier kit (src/auth/)', () => {
  it('imports nothing but its own files, express types, lru-cache, jose and node builtins (and openid-client for the token exchange alone), so teams can copy it', () => {
    const kit = /^(\.\/[\w.]+\.ts|express|lru-cache|jose|node:[\w/]+)$/;
    // RFC 8693 is a grant: the exchange is an OAuth client's job, openid-client's genericGrantRequest.
    const allowedIn = (file: string) => (file === 'exchangeToken.ts' ? /^(\.\/[\w.]+\.ts|lru-cache|openid-client|node:[\w/]+)$/ : kit);
    const files = readdirSync(AUTH_DIR).filter((f) => f.endsWith('.ts'));
    assert.ok(files.length >= 8, files.join());
    for (const file of files) {
      const source = readFileSync(new URL(file, AUTH_DIR), 'utf8');
      // Static, bare and dynamic imports and re-exports alike.
      const specifiers = [...source.matchAll(/(?:\bfrom\s*|\bimport\s*\(?\s*)['"]([^'"]+)['"]/g)].map((m) => m[1]!);
      assert.ok(specifiers.length > 0 || file === 'errors.ts', `${file}: no imports found`);
      for (const specifier of specifiers) assert.match(specifier, allowedIn(file), `${file} imports ${specifier}`);
      // express is needed for its types only: a value import would make the kit depend on its version.
      for (const line of source.split('\n').filter((l) => /from ['"]express['"]/.test(l))) {
        assert.match(line, /^import type /, `${file}: ${line}`);
      }
    }
  });

  it('exports what the README and the JSDoc examples use', () => {
    for (const name of [
      'requireBearer',
      'requireScope',
      'getPrincipal',
      'sendAuthError',
      'createIntrospectionVerifier',
      'createJwtVerifier',
      'createAutoVerifier',
      'principalFromClaims',
      'assertTokenShape',
      'bearerTokenOf',
      'isJwtShaped',
      'AuthError',
      'MissingToken',
      'InvalidRequest',
      'InvalidToken',
      'InsufficientScope',
      'TemporarilyUnavailable',
    ]) {
      assert.equal(typeof (kit as Record<string, unknown>)[name], 'function', name);
    }
    assert.equal(kit.MAX_TOKEN_LENGTH, 4096);
    assert.deepEqual(kit.JWT_ALGORITHMS, ['RS256', 'PS256', 'ES256']);
  });
});
