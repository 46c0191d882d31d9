import { importJWK, SignJWT, type JWK, type JWTPayload } from 'jose';
import type { QueuedEvent, RevocationFact, StoredStream } from '../store/types.ts';
import { eventTypeOf } from './eventTypes.ts';

type Subject = Record<string, unknown>;

/** SSF-CONTRACT.md's mapping: the `sub_id` and event body of a fact; never a token value, only its hash or jti. */
function subjectAndBody(fact: RevocationFact, issuer: string, stream: StoredStream): { sub_id: Subject; body: Record<string, unknown> } {
  const context = (f: { sub?: string; clientId?: string }) => ({ ...(f.clientId ? { client_id: f.clientId } : {}), ...(f.sub ? { sub: f.sub } : {}) });
  switch (fact.kind) {
    case 'token-revoked':
      return {
        sub_id: { format: 'oauth_token', token_type: fact.tokenType, token_identifier_alg: 'hash_256', token: fact.tokenHash },
        body: context(fact),
      };
    case 'jwt-revoked':
      return {
        sub_id: { format: 'oauth_token', token_type: 'access_token', token_identifier_alg: 'jti', token: fact.jti },
        body: { exp: fact.exp, ...context(fact) },
      };
    case 'session-revoked':
      return {
        sub_id: { format: 'complex', user: { format: 'iss_sub', iss: issuer, sub: fact.sub }, application: { format: 'opaque', id: fact.clientId } },
        body: {},
      };
    case 'client-deleted':
      return { sub_id: { format: 'opaque', id: fact.clientId }, body: {} };
    case 'account-purged':
      return { sub_id: { format: 'iss_sub', iss: issuer, sub: fact.sub }, body: {} };
    case 'verification':
      return { sub_id: { format: 'opaque', id: stream.id }, body: fact.state === undefined ? {} : { state: fact.state } };
    case 'stream-updated':
      return { sub_id: { format: 'opaque', id: stream.id }, body: { status: fact.status, ...(fact.reason ? { reason: fact.reason } : {}) } };
  }
}

/** RFC 8417 claims of one queued event of `stream`: one event per SET, addressed to the stream's receiver. */
export function setClaims(issuer: string, stream: StoredStream, event: QueuedEvent): JWTPayload {
  const { sub_id, body } = subjectAndBody(event.fact, issuer, stream);
  return {
    iss: issuer,
    aud: stream.clientId,
    iat: event.iat,
    jti: event.jti,
    sub_id,
    events: { [eventTypeOf(event.fact)]: { event_timestamp: event.iat, ...body } },
  };
}

/**
 * Signs SETs with the IDP's current signing key: the first of its private JWKS, asked for at every
 * signature (keys rotate without a restart), so a SET verifies against the published JWKS.
 */
export function setSigner(issuer: string, currentKey: () => JWK | Promise<JWK>) {
  // Imported keys by kid: importing an RSA key costs more than signing with it.
  const imported = new Map<string, { jwk: JWK; key: Awaited<ReturnType<typeof importJWK>> }>();
  return async (stream: StoredStream, event: QueuedEvent): Promise<string> => {
    const jwk = await currentKey();
    const alg = jwk.alg ?? 'RS256';
    let cached = jwk.kid ? imported.get(jwk.kid) : undefined;
    // Compared by the private part too: a key store may hand out a fresh object each time.
    if (!cached || cached.jwk.d !== jwk.d) {
      cached = { jwk, key: await importJWK(jwk, alg) };
      if (jwk.kid) {
        if (imported.size >= 16) imported.clear();
        imported.set(jwk.kid, cached);
      }
    }
    return new SignJWT(setClaims(issuer, stream, event))
      .setProtectedHeader({ alg, ...(jwk.kid ? { kid: jwk.kid } : {}), typ: 'secevent+jwt' })
      .sign(cached.key);
  };
}
