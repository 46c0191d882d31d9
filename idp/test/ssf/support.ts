import { postForm, registerClient, type RegisteredClient, type TestIdp } from '../../../test/support/idp.ts';
import { call } from '../helpers.ts';

export const POLL = 'urn:ietf:rfc:8936';
export const TOKEN_REVOKED = 'https://schemas.openid.net/secevent/oauth/event-type/token-revoked';
export const VERIFICATION = 'https://schemas.openid.net/secevent/ssf/event-type/verification';
export const STREAM_UPDATED = 'https://schemas.openid.net/secevent/ssf/event-type/stream-updated';

export const ssfResource = (idp: Pick<TestIdp, 'issuer'>) => `${new URL(idp.issuer).origin}/ssf`;

/** A client_credentials token for the SSF endpoints: scope ssf.manage, resource <origin>/ssf. */
export async function ssfToken(idp: TestIdp, client: RegisteredClient, form: Record<string, string> = {}): Promise<string> {
  const res = await postForm(`${idp.issuer}/token`, client, { grant_type: 'client_credentials', scope: 'ssf.manage', resource: ssfResource(idp), ...form });
  if (res.status !== 200) throw new Error(`ssf token for ${client.client_id}: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body.access_token as string;
}

export type Receiver = { client: RegisteredClient; token: string };

/** A registered client with scope ssf.manage and a token for the SSF endpoints. */
export async function receiver(idp: TestIdp, name: string): Promise<Receiver> {
  const client = await registerClient(idp, name, ['ssf.manage']);
  return { client, token: await ssfToken(idp, client) };
}

/** A request to the SSF endpoints with a Bearer token; `body` is sent as JSON unless it is a string. */
export function ssf(idp: Pick<TestIdp, 'origin'>, token: string | undefined, method: string, path: string, body?: unknown, headers: Record<string, string> = {}) {
  return call(`${idp.origin}${path}`, {
    method,
    headers: {
      ...(token ? { authorization: `Bearer ${token}` } : {}),
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      ...headers,
    },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
}

export async function createStream(idp: TestIdp, who: Receiver, body: Record<string, unknown> = { delivery: { method: POLL }, events_requested: [TOKEN_REVOKED] }) {
  const res = await ssf(idp, who.token, 'POST', '/ssf/streams', body);
  if (res.status !== 201) throw new Error(`creating a stream: ${res.status} ${res.text}`);
  return res.body as Record<string, any> & { stream_id: string };
}

export const poll = (idp: TestIdp, who: Receiver, streamId: string, body: Record<string, unknown> = { returnImmediately: true }) =>
  ssf(idp, who.token, 'POST', `/ssf/poll/${streamId}`, body);

/** The payload of a compact JWS, unverified (the independent check verifies with jose). */
export const claimsOf = (jws: string) => JSON.parse(Buffer.from(jws.split('.')[1]!, 'base64url').toString('utf8')) as Record<string, any>;
