import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import fc from 'fast-check';
import { basic, clientCredentialsToken } from '../support/idp.ts';
import { isJwtShaped } from '../../service-api/src/auth/tokenShape.ts';
import { introspectionCalls, leaks, logBarrier, rawRequest, startStack, type RawResponse, type Stack } from './stack.ts';

// Property-based bad input against the real processes: whatever a caller sends, the answer is a 4xx
// with an RFC-shaped JSON error (or a success, when the random input happens to be valid), never a
// 5xx, and the processes stay up. Every property is bounded in runs and in time.
const RUNS = { numRuns: 150, interruptAfterTimeLimit: 25_000 };

let stack: Stack;
const tokens: string[] = [];

before(async () => {
  stack = await startStack();
  tokens.push(await clientCredentialsToken(stack.idp, stack.machine, 'service.api'));
});
after(() => stack?.stop());

/** RFC 6749 §5.2 / RFC 6750 §3 shape: `{ error, error_description? }` and nothing else but `scope`. */
function assertErrorShape(res: { status: number; body: string }, label: string) {
  assert.ok(res.status >= 400 && res.status < 500, `${label}: status ${res.status} ${res.body.slice(0, 200)}`);
  let body: Record<string, unknown>;
  try {
    body = JSON.parse(res.body);
  } catch {
    assert.fail(`${label}: ${res.status} body is not JSON: ${JSON.stringify(res.body.slice(0, 200))}`);
  }
  assert.equal(typeof body.error, 'string', `${label}: ${res.body}`);
  assert.match(body.error as string, /^[\x20-\x21\x23-\x5b\x5d-\x7e]+$/);
  if ('error_description' in body) assert.equal(typeof body.error_description, 'string');
  for (const key of Object.keys(body)) assert.ok(['error', 'error_description', 'scope'].includes(key), `${label}: unexpected key ${key}`);
}

async function assertAlive() {
  assert.equal(stack.idp.child.exitCode, null, 'the IDP process is alive');
  assert.equal(stack.serviceApi.child.exitCode, null, 'the Service API process is alive');
  assert.equal((await fetch(`${stack.idp.origin}/healthz`)).status, 200);
  assert.equal((await fetch(`${stack.serviceApi.origin}/healthz`)).status, 200);
}

// JSON values of every kind, nested a little.
const jsonValue = fc.jsonValue({ maxDepth: 3 });
const awkwardKey = fc.oneof(
  fc.constantFrom('name', 'redirect_uris', 'grant_types', 'scopes', 'post_logout_redirect_uris', 'username', 'password', 'email'),
  fc.constantFrom('__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty', '', ' name', 'NAME'),
  fc.string({ unit: 'grapheme', maxLength: 20 }),
);
const awkwardValue = fc.oneof(
  jsonValue,
  fc.string({ unit: 'grapheme', maxLength: 200 }),
  fc.constantFrom('service.api', 'client_credentials', 'authorization_code', 'a', 'x'.repeat(101), '\u0000', '\ud83d\ude00'),
  fc.array(fc.oneof(fc.string({ unit: 'grapheme' }), fc.integer(), fc.constant(null)), { maxLength: 5 }),
);
/** A raw JSON object text, so duplicate keys and `__proto__` reach the server as written. */
const rawObject = fc
  .array(fc.tuple(awkwardKey, awkwardValue), { maxLength: 8 })
  .chain((entries) =>
    fc.boolean().map((duplicate) => {
      const all = duplicate && entries.length > 0 ? [...entries, entries[0]!] : entries;
      return `{${all.map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v)}`).join(',')}}`;
    }),
  );
const adminBody = fc.oneof(
  { weight: 4, arbitrary: rawObject },
  { weight: 1, arbitrary: jsonValue.map((v) => JSON.stringify(v)) },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 300 }) },
  { weight: 1, arbitrary: fc.constantFrom(70_000, 200_000).map((n) => JSON.stringify({ name: 'x'.repeat(n) })) },
  { weight: 1, arbitrary: fc.constantFrom('{"name":', '[', '{"a":1}{"b":2}', '\ufeff{}', 'null', '{"name":"a"', '{"__proto__":{"admin":true},"name":"p"}') },
);

describe('admin API bodies', () => {
  test('any body, content type and route → a 2xx or a 4xx JSON error; never a 5xx; the IDP stays up', async () => {
    const seen: Record<number, number> = {};
    await fc.assert(
      fc.asyncProperty(
        adminBody,
        fc.constantFrom('/clients', '/users', '/clients/x/secret'),
        fc.constantFrom('application/json', 'application/json; charset=utf-8', 'text/plain', 'application/x-www-form-urlencoded', undefined),
        async (body, route, type) => {
          const res = await fetch(`${stack.idp.origin}/api/global/admin${route}`, {
            method: 'POST',
            headers: { authorization: `Bearer ${stack.idp.adminToken}`, ...(type ? { 'content-type': type } : {}) },
            body,
          });
          const text = await res.text();
          seen[res.status] = (seen[res.status] ?? 0) + 1;
          if (res.status >= 200 && res.status < 300) return;
          assertErrorShape({ status: res.status, body: text }, `POST ${route} ${type} ${body.slice(0, 100)}`);
        },
      ),
      RUNS,
    );
    console.log(`# admin bodies: statuses ${JSON.stringify(seen)}`);
    await assertAlive();
    // Nothing was polluted: the API still registers and lists clients normally.
    const listed = await fetch(`${stack.idp.origin}/api/global/admin/clients`, { headers: { authorization: `Bearer ${stack.idp.adminToken}` } });
    assert.equal(listed.status, 200);
    assert.equal(({} as Record<string, unknown>).admin, undefined);
  });
});

// b64token characters (RFC 6750 §2.1): a token made of these is well-formed and worth introspecting.
const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~+/';
const b64token = fc.string({ unit: fc.constantFrom(...B64), minLength: 1, maxLength: 60 });
/** Header values the Service API must refuse without asking the IDP. */
const malformedAuthorization: fc.Arbitrary<{ label: string; lines: string[] }> = fc.oneof(
  fc.tuple(fc.constantFrom('Basic', 'Token', 'MAC', 'Digest', 'Bearer:', 'Bearer_', 'Beare', 'B', 'Negotiate'), b64token).map(([s, t]) => ({
    label: 'wrong scheme',
    lines: [`${s} ${t}`],
  })),
  fc.tuple(fc.constantFrom('Bearer', 'bearer', 'BEARER'), fc.constantFrom('', '\t', ' \t', '\t '), b64token).map(([s, sp, t]) => ({
    label: 'odd spacing',
    lines: [`${s}${sp}${t}`],
  })),
  fc.tuple(b64token, fc.constantFrom(' x', ' ', '  tail', ',', ';', '=x', ' =')).map(([t, tail]) => ({ label: 'two tokens or junk', lines: [`Bearer ${t}${tail === ' ' ? ' x' : tail}`] })),
  fc.constantFrom('Bearer', 'Bearer ', 'Bearer =', '', ' ').map((v) => ({ label: 'no token', lines: [v] })),
  fc.tuple(b64token, b64token).map(([a, b]) => ({ label: 'repeated header', lines: [`Bearer ${a}`, `Bearer ${b}`] })),
  fc.integer({ min: 4097, max: 10_240 }).map((n) => ({ label: '10 kB token', lines: [`Bearer ${'a'.repeat(n)}`] })),
  fc.tuple(b64token, fc.string({ unit: fc.constantFrom('é', 'ü', '€', '😀', 'ж', '\u00a0', '\u200b'), minLength: 1, maxLength: 5 })).map(([t, u]) => ({
    label: 'non-ASCII',
    lines: [`Bearer ${t}${u}`],
  })),
  fc.tuple(b64token, fc.integer({ min: 1, max: 31 }).filter((c) => c !== 9 && c !== 10 && c !== 13)).map(([t, c]) => ({
    label: 'control character',
    lines: [`Bearer ${t}${String.fromCharCode(c)}x`],
  })),
  fc.tuple(b64token, fc.constantFrom('"', '\\', '(', ')', '<', '>', '@', '[', ']', '{', '}', '?', '!', '#', '%', '&', '*', '^', '|', "'", '`')).map(([t, c]) => ({
    label: 'separator in token',
    lines: [`Bearer ${t}${c}${t}`],
  })),
);

function get(path: string, lines: string[]): Promise<RawResponse> {
  const head = `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n${lines.map((l) => `Authorization: ${l}\r\n`).join('')}\r\n`;
  return rawRequest(stack.serviceApi.port, Buffer.from(head, 'utf8'));
}

function assertBearerError(res: RawResponse, label: string) {
  assert.ok(res.status === 400 || res.status === 401, `${label}: ${res.status} ${res.raw.slice(0, 300)}`);
  assertErrorShape(res, label);
  assert.match(res.headers['www-authenticate']?.[0] ?? '', /^Bearer realm="service-api"/, `${label}: ${res.raw.slice(0, 300)}`);
  assert.match(res.headers['content-type']?.[0] ?? '', /^application\/json/);
}

describe('Authorization headers at the Service API', () => {
  test('malformed headers → 400/401 JSON with WWW-Authenticate, and no introspection call to the IDP', async () => {
    const before = introspectionCalls(stack.idp.output());
    const seen: Record<string, Record<number, number>> = {};
    await fc.assert(
      fc.asyncProperty(malformedAuthorization, fc.constantFrom('/v1/whoami', '/v1/reports'), async ({ label, lines }, path) => {
        const res = await get(path, lines);
        (seen[label] ??= {})[res.status] = (seen[label]![res.status] ?? 0) + 1;
        if (label === 'control character') {
          // Node's HTTP parser refuses control characters in a header before the app sees the request:
          // a bare 400 and a closed connection (no JSON, no challenge). Still a 4xx, still no IDP call.
          assert.equal(res.raw, 'HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
          return;
        }
        assertBearerError(res, `${label} ${JSON.stringify(lines).slice(0, 120)}`);
      }),
      { ...RUNS, numRuns: 200 },
    );
    // An introspection made for any of those requests ended before its answer did: once the IDP's
    // line for a later request of ours is in, its line would be too.
    await logBarrier(stack.idp);
    assert.equal(introspectionCalls(stack.idp.output()) - before, 0, 'the IDP was asked about a malformed token');
    console.log(`# malformed Authorization: ${JSON.stringify(seen)}`);
    await assertAlive();
  });

  test('well-formed unknown tokens → 401 invalid_token JSON with WWW-Authenticate (after one introspection each)', async () => {
    const before = introspectionCalls(stack.idp.output());
    let distinct = 0;
    const tried = new Set<string>();
    await fc.assert(
      // JWT-shaped ones (about one run in twenty draws one) are verified locally, never introspected.
      fc.asyncProperty(b64token.filter((t) => !isJwtShaped(t)), fc.constantFrom('Bearer ', 'bearer ', 'Bearer    '), async (token, prefix) => {
        if (!tried.has(token)) distinct += 1;
        tried.add(token);
        const res = await get('/v1/whoami', [`${prefix}${token}`]);
        assert.equal(res.status, 401, res.raw.slice(0, 300));
        assertBearerError(res, token);
        assert.equal(JSON.parse(res.body).error, 'invalid_token');
      }),
      { numRuns: 40, interruptAfterTimeLimit: 15_000 },
    );
    await logBarrier(stack.idp);
    assert.equal(introspectionCalls(stack.idp.output()) - before, distinct, 'one introspection per distinct token (negative cache)');
  });
});

// Form bodies to the OAuth endpoints.
const PARAMS = ['grant_type', 'scope', 'client_id', 'client_secret', 'token', 'token_type_hint', 'code', 'redirect_uri', 'code_verifier', 'refresh_token', 'resource', 'audience', 'username', 'password'];
const formValue = fc.oneof(
  fc.constantFrom('client_credentials', 'authorization_code', 'refresh_token', 'password', 'urn:ietf:params:oauth:grant-type:jwt-bearer', 'service.api', 'openid', 'access_token', 'refresh_token', 'http://localhost:4001', 'solutrix-api'),
  fc.string({ unit: 'grapheme', maxLength: 100 }),
  fc.string({ unit: 'binary', maxLength: 50 }),
);
const formParams = fc.array(fc.tuple(fc.oneof(fc.constantFrom(...PARAMS), fc.string({ maxLength: 12 })), formValue), { maxLength: 8 }).chain((pairs) =>
  fc.boolean().map((dup) => (dup && pairs.length ? [...pairs, [pairs[0]![0], `${pairs[0]![1]}x`] as [string, string]] : pairs)),
);
const formBody = fc.oneof(
  { weight: 5, arbitrary: formParams.map((pairs) => pairs.map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join('&')) },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 200 }) },
  { weight: 1, arbitrary: fc.constantFrom('%', '%zz=1', 'a=%E0%A4%A', '&&&=&=', 'grant_type=client_credentials&grant_type=client_credentials', `token=${'a'.repeat(300_000)}`, `scope=${'x '.repeat(40_000)}`) },
);
const credentials = fc.constantFrom('none', 'valid', 'wrong-secret', 'unknown-client', 'garbage-basic', 'bearer');

function authorizationFor(kind: string): Record<string, string> {
  switch (kind) {
    case 'valid':
      return { authorization: basic(stack.machine.client_id, stack.machine.client_secret) };
    case 'wrong-secret':
      return { authorization: basic(stack.machine.client_id, 'nope') };
    case 'unknown-client':
      return { authorization: basic('nobody-here', 'nope') };
    case 'garbage-basic':
      return { authorization: 'Basic %%%not-base64' };
    case 'bearer':
      return { authorization: `Bearer ${tokens[0]}` };
    default:
      return {};
  }
}

describe('form bodies to /oauth/token and /oauth/introspect', () => {
  for (const endpoint of ['/token', '/introspect']) {
    test(`${endpoint}: random, duplicate, huge or mistyped bodies → a 200 or a 4xx JSON error; never a 5xx`, async () => {
      const seen: Record<number, number> = {};
      await fc.assert(
        fc.asyncProperty(
          formBody,
          credentials,
          fc.constantFrom('application/x-www-form-urlencoded', 'application/x-www-form-urlencoded; charset=utf-8', 'application/json', 'text/plain', 'multipart/form-data; boundary=x', undefined),
          async (body, creds, type) => {
            const res = await fetch(`${stack.idp.issuer}${endpoint}`, {
              method: 'POST',
              headers: { ...authorizationFor(creds), ...(type ? { 'content-type': type } : {}) },
              body,
            });
            const text = await res.text();
            seen[res.status] = (seen[res.status] ?? 0) + 1;
            if (res.status === 200) {
              if (endpoint === '/token') tokens.push(JSON.parse(text).access_token);
              return;
            }
            assertErrorShape({ status: res.status, body: text }, `${endpoint} ${creds} ${type} ${body.slice(0, 100)}`);
          },
        ),
        RUNS,
      );
      console.log(`# ${endpoint}: statuses ${JSON.stringify(seen)}`);
      await assertAlive();
    });
  }
});

test('no process printed a client secret, the admin token or a token seen here', () => {
  const outputs = stack.processes.map((p, i) => ({ name: `process ${i}`, text: p.output() }));
  const needles = [
    ...stack.secrets.map((value) => ({ kind: 'client secret', value })),
    { kind: 'admin token', value: stack.idp.adminToken },
    ...tokens.filter(Boolean).map((value) => ({ kind: 'access token', value })),
  ];
  assert.deepEqual(leaks(outputs, needles), []);
});
