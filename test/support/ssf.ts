// What the Shared Signals tests and the bench share: a receiver's view of the IDP's SSF endpoints
// (/work SSF contract: streams, RFC 8936 poll), an independent SET check with jose alone, and the
// tight bounded loop that times how long a revoked token keeps working at a Service API.
import { createHash } from 'node:crypto';
import { createRemoteJWKSet, jwtVerify, type JWTPayload } from 'jose';
import { basic, postForm, type RegisteredClient, type TestIdp } from './idp.ts';

export const TOKEN_REVOKED = 'https://schemas.openid.net/secevent/oauth/event-type/token-revoked';
export const SESSION_REVOKED = 'https://schemas.openid.net/secevent/caep/event-type/session-revoked';
export const ACCOUNT_PURGED = 'https://schemas.openid.net/secevent/risc/event-type/account-purged';
export const CLIENT_DELETED = 'urn:solutrix:secevent:event-type:client-deleted';
export const POLL_DELIVERY = 'urn:ietf:rfc:8936';

/** The Service API's environment for "only an event can explain a fast refusal": caches far longer than any test. */
export const EVENTS_ON = { REVOCATION_EVENTS: 'ssf', INTROSPECTION_CACHE_MAX_TTL: '600', JWT_CACHE_MAX_TTL: '600' } as const;

/** base64url(SHA-256(value)): how a SET names an opaque token (never the token itself). */
export const tokenHash = (value: string) => createHash('sha256').update(value).digest('base64url');

const originOf = (idp: Pick<TestIdp, 'issuer'>) => new URL(idp.issuer).origin;

/** A client_credentials token with scope ssf.manage for the IDP's built-in `<origin>/ssf` resource. */
export async function ssfToken(idp: Pick<TestIdp, 'issuer'>, client: RegisteredClient): Promise<string> {
  const res = await postForm(`${idp.issuer}/token`, client, { grant_type: 'client_credentials', scope: 'ssf.manage', resource: `${originOf(idp)}/ssf` });
  if (res.status !== 200) throw new Error(`ssf.manage token for ${client.client_id}: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body.access_token as string;
}

export type Json = Record<string, any>;

/** One call to an SSF endpoint at `at` (any replica's origin; default the issuer's). */
export async function ssf(idp: Pick<TestIdp, 'issuer'>, token: string, method: string, path: string, body?: unknown, at = originOf(idp)) {
  const res = await fetch(`${at}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(40_000),
  });
  const text = await res.text();
  return { status: res.status, body: (text ? JSON.parse(text) : undefined) as Json };
}

export async function createStream(idp: Pick<TestIdp, 'issuer'>, token: string, description = 'test receiver'): Promise<Json> {
  const res = await ssf(idp, token, 'POST', '/ssf/streams', {
    delivery: { method: POLL_DELIVERY },
    events_requested: [TOKEN_REVOKED, SESSION_REVOKED, ACCOUNT_PURGED, CLIENT_DELETED],
    description,
  });
  if (res.status !== 201) throw new Error(`creating a stream: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body;
}

/** The caller's streams (GET /ssf/streams answers an array). */
export async function listStreams(idp: Pick<TestIdp, 'issuer'>, token: string): Promise<Json[]> {
  const res = await ssf(idp, token, 'GET', '/ssf/streams');
  if (res.status !== 200 || !Array.isArray(res.body)) throw new Error(`listing streams: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body as unknown as Json[];
}

/** RFC 8936 poll of one stream (at `at`, default the issuer's origin): `{ sets: { jti: SET }, moreAvailable }`. */
export async function pollStream(
  idp: Pick<TestIdp, 'issuer'>,
  token: string,
  streamId: string,
  body: { maxEvents?: number; returnImmediately?: boolean; ack?: string[] } = { returnImmediately: true },
  at?: string,
): Promise<{ sets: Record<string, string>; moreAvailable: boolean }> {
  const res = await ssf(idp, token, 'POST', `/ssf/poll/${encodeURIComponent(streamId)}`, body, at);
  if (res.status !== 200) throw new Error(`polling ${streamId}: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body as { sets: Record<string, string>; moreAvailable: boolean };
}

/** Polls (returnImmediately) until a SET whose payload satisfies `match` arrives, at most `timeoutMs`. */
export async function awaitSet(
  idp: Pick<TestIdp, 'issuer'>,
  token: string,
  streamId: string,
  match: (payload: Json) => boolean,
  { timeoutMs = 5000, at }: { timeoutMs?: number; at?: string } = {},
): Promise<{ jti: string; set: string; payload: Json } | undefined> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const { sets } = await pollStream(idp, token, streamId, { returnImmediately: true }, at);
    for (const [jti, set] of Object.entries(sets)) {
      const payload = JSON.parse(Buffer.from(set.split('.')[1]!, 'base64url').toString('utf8')) as Json;
      if (match(payload)) return { jti, set, payload };
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return undefined;
}

/**
 * Verifies a SET the way any third-party receiver would, with jose alone: signature against the
 * IDP's published JWKS, `typ: secevent+jwt`, `iss`, `aud`, and `iat` not in the future.
 */
export async function verifySet(idp: Pick<TestIdp, 'issuer'>, set: string, audience: string): Promise<{ payload: JWTPayload & Json; header: Json }> {
  const jwks = createRemoteJWKSet(new URL(`${idp.issuer}/jwks.json`));
  const { payload, protectedHeader } = await jwtVerify(set, jwks, { issuer: idp.issuer, audience, typ: 'secevent+jwt' });
  if (typeof payload.iat !== 'number' || payload.iat > Date.now() / 1000 + 5) throw new Error(`iat ${payload.iat} missing or in the future`);
  return { payload: payload as JWTPayload & Json, header: protectedHeader as Json };
}

/** Revokes `token` at /oauth/revoke as `client` (RFC 7009); returns the status once the IDP answered. */
export async function revoke(idp: Pick<TestIdp, 'issuer'>, client: RegisteredClient, token: string, hint?: 'access_token' | 'refresh_token'): Promise<number> {
  const res = await fetch(`${idp.issuer}/revoke`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic(client.client_id, client.client_secret) },
    body: new URLSearchParams({ token, ...(hint ? { token_type_hint: hint } : {}) }),
  });
  await res.arrayBuffer();
  return res.status;
}

/** GET /v1/whoami status at a Service API. */
export async function whoamiStatus(serviceApiOrigin: string, token: string): Promise<number> {
  const res = await fetch(`${serviceApiOrigin}/v1/whoami`, { headers: { authorization: `Bearer ${token}` }, signal: AbortSignal.timeout(10_000) });
  await res.arrayBuffer();
  return res.status;
}

/**
 * Asks the Service API as fast as it answers (one request at a time) until it answers 401 for
 * `token`, at most `timeoutMs`. Returns the milliseconds from `since` to that first 401, or
 * undefined with the last status seen when it never came.
 */
export async function timeToRefusal(serviceApiOrigin: string, token: string, since: number, timeoutMs = 5000): Promise<{ ms?: number; last: number }> {
  let last = 0;
  for (let i = 0; i < 100_000 && performance.now() - since < timeoutMs; i++) {
    last = await whoamiStatus(serviceApiOrigin, token);
    if (last === 401) return { ms: performance.now() - since, last };
  }
  return { last };
}

/** The Service API's revocation-events state from its /healthz (`connecting`, `connected`, `fallback`), or undefined when off. */
export async function eventsState(serviceApiOrigin: string): Promise<string | undefined> {
  const res = await fetch(`${serviceApiOrigin}/healthz`, { signal: AbortSignal.timeout(5000) });
  const body = (await res.json()) as { revocation_events?: { state?: string } };
  return body.revocation_events?.state;
}
