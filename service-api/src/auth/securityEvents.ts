import { errors, jwtVerify, type JWTPayload, type JWTVerifyGetKey } from 'jose';
import { JWT_ALGORITHMS } from './jwt.ts';
import { JwksUnavailable } from './keySet.ts';
import type { Revocation } from './revocations.ts';

/** The Shared Signals event types the receiver applies (SSF-CONTRACT.md's mapping). */
export const EVENT_TYPES = Object.freeze({
  tokenRevoked: 'https://schemas.openid.net/secevent/oauth/event-type/token-revoked',
  sessionRevoked: 'https://schemas.openid.net/secevent/caep/event-type/session-revoked',
  clientDeleted: 'urn:solutrix:secevent:event-type:client-deleted',
  accountPurged: 'https://schemas.openid.net/secevent/risc/event-type/account-purged',
  verification: 'https://schemas.openid.net/secevent/ssf/event-type/verification',
  streamUpdated: 'https://schemas.openid.net/secevent/ssf/event-type/stream-updated',
});

/** What a stream asks for: the revocations; SSF's own stream events come whether asked or not. */
export const EVENTS_REQUESTED: readonly string[] = Object.freeze([EVENT_TYPES.tokenRevoked, EVENT_TYPES.sessionRevoked, EVENT_TYPES.clientDeleted, EVENT_TYPES.accountPurged]);

/** RFC 8936 §2.4 error codes a receiver reports in `setErrs`. */
export type SetErrorCode = 'invalid_request' | 'invalid_key' | 'invalid_issuer' | 'invalid_audience';

/** What one verified SET asks of the receiver. */
export type SetAction =
  | { kind: 'revoke'; revocation: Revocation }
  /** stream-updated: `lost` when the stream is not enabled or events were lost (flush, new stream). */
  | { kind: 'stream'; lost: boolean; streamId: string | undefined }
  /** verification, or a type we do not handle: acknowledged, nothing to do. */
  | { kind: 'none'; eventType: string };

export type SetVerdict =
  | { outcome: 'accept'; jti: string; action: SetAction }
  | { outcome: 'reject'; err: SetErrorCode; description: string }
  /** The IDP's keys could not be fetched: neither acknowledged nor rejected, so it is delivered again. */
  | { outcome: 'retry' };

export type SetVerifyOptions = {
  getKey: JWTVerifyGetKey;
  issuer: string;
  /** The stream's `aud`: our client id. */
  audience: string;
  /** Epoch ms. */
  now: () => number;
  /** How far in the future `iat` may be (clock skew). Default 60. */
  iatSkewSeconds?: number;
  /** When a jwt-revoked event carries no `exp`: deny-list the jti this long. Default 86400. */
  defaultJtiSeconds?: number;
};

/**
 * Verifies one SET (RFC 8417) from a poll answer and maps it to what the caches must forget: JWS
 * signature against the IDP's keys (asymmetric algorithms only), header `typ: secevent+jwt`, `iss`,
 * `aud`, `iat` present and not in the future, `jti` equal to the key it was delivered under, one event.
 * Descriptions name the failed check, never the SET's content.
 */
export async function verifySet(compact: string, deliveredJti: string, options: SetVerifyOptions): Promise<SetVerdict> {
  const { getKey, issuer, audience, now, iatSkewSeconds = 60, defaultJtiSeconds = 86_400 } = options;
  let payload: JWTPayload;
  try {
    ({ payload } = await jwtVerify(compact, getKey, {
      issuer,
      audience,
      typ: 'secevent+jwt',
      algorithms: [...JWT_ALGORITHMS],
      requiredClaims: ['iat', 'jti'],
      currentDate: new Date(now()),
    }));
  } catch (err) {
    if (err instanceof JwksUnavailable) return { outcome: 'retry' };
    if (err instanceof errors.JOSEError) return rejection(err);
    throw err;
  }
  if (payload.jti !== deliveredJti) return reject('invalid_request', 'the SET jti differs from the one it was delivered under');
  if ((payload.iat as number) * 1000 > now() + iatSkewSeconds * 1000) return reject('invalid_request', 'the SET iat is in the future');
  const events = payload.events;
  if (!isObject(events) || Object.keys(events).length !== 1) return reject('invalid_request', 'the SET must carry exactly one event');
  const [[eventType, body]] = Object.entries(events) as [[string, unknown]];
  const action = actionOf(eventType, isObject(body) ? body : {}, payload.sub_id, issuer, now, defaultJtiSeconds);
  if (action === undefined) return reject('invalid_request', 'the SET subject does not fit its event type');
  return { outcome: 'accept', jti: deliveredJti, action };
}

function actionOf(eventType: string, body: Record<string, unknown>, subId: unknown, issuer: string, now: () => number, defaultJtiSeconds: number): SetAction | undefined {
  if (!isObject(subId)) return undefined;
  const revoke = (revocation: Revocation): SetAction => ({ kind: 'revoke', revocation });
  switch (eventType) {
    case EVENT_TYPES.tokenRevoked: {
      if (subId.format !== 'oauth_token' || !nonEmpty(subId.token)) return undefined;
      if (subId.token_identifier_alg === 'hash_256') return revoke({ kind: 'token', tokenHash: subId.token });
      if (subId.token_identifier_alg !== 'jti') return undefined;
      // Without exp we still refuse the jti, for longer than any access token here lives.
      const exp = typeof body.exp === 'number' && Number.isFinite(body.exp) ? body.exp : Math.floor(now() / 1000) + defaultJtiSeconds;
      return revoke({ kind: 'jwt', jti: subId.token, exp });
    }
    case EVENT_TYPES.sessionRevoked: {
      const { user, application } = subId;
      if (subId.format !== 'complex' || !isIssSub(user, issuer) || !isObject(application) || !nonEmpty(application.id)) return undefined;
      return revoke({ kind: 'session', subject: user.sub, clientId: application.id });
    }
    case EVENT_TYPES.clientDeleted:
      return subId.format === 'opaque' && nonEmpty(subId.id) ? revoke({ kind: 'client', clientId: subId.id }) : undefined;
    case EVENT_TYPES.accountPurged:
      return isIssSub(subId, issuer) ? revoke({ kind: 'subject', subject: subId.sub }) : undefined;
    case EVENT_TYPES.streamUpdated: {
      const reason = typeof body.reason === 'string' ? body.reason : '';
      const streamId = nonEmpty(subId.id) ? subId.id : undefined;
      return { kind: 'stream', lost: body.status !== 'enabled' || /\blost\b/i.test(reason), streamId };
    }
    default:
      return { kind: 'none', eventType };
  }
}

function rejection(err: errors.JOSEError): SetVerdict {
  if (
    err instanceof errors.JWSSignatureVerificationFailed ||
    err instanceof errors.JWKSNoMatchingKey ||
    err instanceof errors.JWKSMultipleMatchingKeys ||
    err instanceof errors.JOSEAlgNotAllowed
  ) {
    return reject('invalid_key', 'the SET signature does not verify with the issuer keys');
  }
  if (err instanceof errors.JWTClaimValidationFailed) {
    if (err.claim === 'aud') return reject('invalid_audience', 'the SET is not meant for this receiver');
    if (err.claim === 'iss') return reject('invalid_issuer', 'the SET was issued by another issuer');
    return reject('invalid_request', `the SET ${err.claim.replace(/[^a-z_]/gi, '')} is not acceptable`);
  }
  return reject('invalid_request', 'the SET is malformed');
}

const reject = (err: SetErrorCode, description: string): SetVerdict => ({ outcome: 'reject', err, description });

function isIssSub(value: unknown, issuer: string): value is { iss: string; sub: string } {
  return isObject(value) && value.format === 'iss_sub' && value.iss === issuer && nonEmpty(value.sub);
}

function nonEmpty(value: unknown): value is string {
  return typeof value === 'string' && value !== '';
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
