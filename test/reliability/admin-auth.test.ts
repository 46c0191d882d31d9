import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import fc from 'fast-check';
import { startIdp, type TestIdp } from '../support/idp.ts';
import { rawRequest, track, type RawResponse } from './stack.ts';

// What idp/test/admin/auth.test.ts (no token, wrong token, token of another length, other scheme → 401)
// and idp/test/admin-rate-limit.test.ts (20 wrong tokens → 429 for wrong tokens on every admin route,
// the right token still 200, X-Forwarded-For ignored) already cover is not repeated here. Added: hostile
// header shapes, the bound being per address, and the bound ending after its window.
let idp: TestIdp;
before(async () => {
  idp = track(await startIdp());
});
after(() => idp?.stop());

const admin = (lines: readonly string[], localAddress = '127.0.0.1'): Promise<RawResponse> =>
  rawRequest(
    idp.port,
    Buffer.from(`GET /api/global/admin/clients HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n${lines.map((l) => `Authorization: ${l}\r\n`).join('')}\r\n`, 'utf8'),
    '',
    10_000,
    localAddress,
  );

const hostileAuthorization = fc.oneof(
  fc.string({ unit: 'grapheme', maxLength: 80 }).map((t) => [`Bearer ${t}`]),
  fc.string({ unit: fc.constantFrom('a', 'é', '😀', ' ', '\t', '=', '"'), maxLength: 40 }).map((t) => [`Bearer ${t}`]),
  fc.integer({ min: 4000, max: 10_240 }).map((n) => [`Bearer ${'A'.repeat(n)}`]),
  fc.constantFrom(['Bearer'], ['Bearer '], [''], ['Basic YWRtaW46YWRtaW4='], ['Bearer a', 'Bearer b']),
  fc.string({ unit: 'binary-ascii', maxLength: 60 }).map((t) => [t.replace(/[\r\n]/g, '')]),
);

describe('admin authentication under hostile headers', () => {
  test('any Authorization header but the right one → 401 (429 only for a Bearer token once over the bound), RFC-shaped JSON; never a 5xx', async () => {
    const seen: Record<number, number> = {};
    const bearerToken = /^Bearer [\x21-\x7e]+$/;
    await fc.assert(
      fc.asyncProperty(hostileAuthorization, async (lines) => {
        const res = await admin(lines);
        seen[res.status] = (seen[res.status] ?? 0) + 1;
        if (res.status === 400 && res.body === '') return; // node's HTTP parser refused a control character
        assert.ok(res.status === 401 || res.status === 429, `${res.status} for ${JSON.stringify(lines).slice(0, 100)}`);
        // Anything that is not a well-formed Bearer token is no guess: never counted, never 429. (Node keeps
        // only the first of repeated Authorization headers.)
        // HTTP drops a field value's surrounding spaces and tabs (RFC 9110 §5.5): "Bearer a\t" is "Bearer a".
        const received = (lines[0] ?? '').replace(/^[ \t]+|[ \t]+$/g, '');
        if (!bearerToken.test(received)) assert.equal(res.status, 401, `${JSON.stringify(lines).slice(0, 100)}`);
        const body = JSON.parse(res.body) as Record<string, unknown>;
        assert.deepEqual(Object.keys(body).sort(), ['error', 'error_description']);
        if (res.status === 401) assert.match(res.headers['www-authenticate']?.[0] ?? '', /^Bearer realm="idp-admin"/);
        else assert.equal(res.headers['retry-after']?.[0], '60');
      }),
      // The examples run first: 20 wrong tokens, so every later wrong Bearer token is over the bound.
      { numRuns: 80, interruptAfterTimeLimit: 20_000, examples: Array.from({ length: 20 }, (_, i) => [[`Bearer wrong-${i}`]] as [string[]]) },
    );
    assert.ok((seen[429] ?? 0) > 0, `the address went over the bound: ${JSON.stringify(seen)}`);
    assert.equal(idp.child.exitCode, null);
  });

  test('the bound is per address: 127.0.0.1 is over it (wrong token 429, right token still 200), another host (127.0.0.2) counts separately', async () => {
    assert.equal((await admin(['Bearer wrong'])).status, 429, '127.0.0.1 is over the bound');
    assert.equal((await admin([`Bearer ${idp.adminToken}`])).status, 200, 'the holder is never locked out');
    assert.equal((await admin([`Bearer ${idp.adminToken}`], '127.0.0.2')).status, 200);
    assert.equal((await admin(['Bearer wrong'], '127.0.0.2')).status, 401);
    assert.equal((await admin([`Bearer ${idp.adminToken}`], '127.0.0.2')).status, 200);
  });
});
