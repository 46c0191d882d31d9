import type { RevocationFact } from '../store/types.ts';

/**
 * The Shared Signals event types this IDP transmits (SSF-CONTRACT.md's mapping table, listed in the
 * README). Standard types wherever one fits; `client-deleted` has none, so it is a URI of this project.
 */
export const EVENT_TYPES = {
  tokenRevoked: 'https://schemas.openid.net/secevent/oauth/event-type/token-revoked',
  sessionRevoked: 'https://schemas.openid.net/secevent/caep/event-type/session-revoked',
  clientDeleted: 'urn:solutrix:secevent:event-type:client-deleted',
  accountPurged: 'https://schemas.openid.net/secevent/risc/event-type/account-purged',
  verification: 'https://schemas.openid.net/secevent/ssf/event-type/verification',
  streamUpdated: 'https://schemas.openid.net/secevent/ssf/event-type/stream-updated',
} as const;

export type EventType = (typeof EVENT_TYPES)[keyof typeof EVENT_TYPES];

const BY_KIND: Record<RevocationFact['kind'], EventType> = {
  'token-revoked': EVENT_TYPES.tokenRevoked,
  // A JWT access token revoked by jti is still a revoked token: same type, another sub_id format.
  'jwt-revoked': EVENT_TYPES.tokenRevoked,
  'session-revoked': EVENT_TYPES.sessionRevoked,
  'client-deleted': EVENT_TYPES.clientDeleted,
  'account-purged': EVENT_TYPES.accountPurged,
  verification: EVENT_TYPES.verification,
  'stream-updated': EVENT_TYPES.streamUpdated,
};

/** The SET event type a stored fact is delivered as. */
export function eventTypeOf(fact: RevocationFact): EventType {
  return BY_KIND[fact.kind];
}

/**
 * `events_supported` of every stream: what a receiver may request. Verification and stream-updated
 * are SSF's own events, always delivered whether requested or not (SSF 1.0 §8.1.4, §8.1.5).
 */
export const EVENTS_SUPPORTED: readonly EventType[] = [
  EVENT_TYPES.tokenRevoked,
  EVENT_TYPES.sessionRevoked,
  EVENT_TYPES.clientDeleted,
  EVENT_TYPES.accountPurged,
];

/** Delivered to every stream regardless of its events_delivered: they concern the stream itself. */
export const STREAM_EVENTS: readonly EventType[] = [EVENT_TYPES.verification, EVENT_TYPES.streamUpdated];
