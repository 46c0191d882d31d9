import { isDeepStrictEqual } from 'node:util';
import { invalidRequest } from '../errors.ts';
import { EVENTS_SUPPORTED } from './eventTypes.ts';

/** RFC 8936 poll delivery: the only method this transmitter offers. */
export const POLL_DELIVERY = 'urn:ietf:rfc:8936';

const RECEIVER_FIELDS = ['delivery', 'events_requested', 'description'] as const;
/** Set by the transmitter: a receiver may echo them (SSF 1.0 §8.1.1.3), never change them. */
const TRANSMITTER_FIELDS = ['stream_id', 'iss', 'aud', 'events_supported', 'events_delivered', 'inactivity_timeout', 'min_verification_interval'] as const;
const KNOWN = new Set<string>([...RECEIVER_FIELDS, ...TRANSMITTER_FIELDS]);
const MAX_EVENTS_REQUESTED = 50;
const MAX_EVENT_TYPE_LENGTH = 500;
const MAX_DESCRIPTION_LENGTH = 1000;

/** The SSF §8.1.1 stream configuration, as stored and as answered. */
export type StreamConfig = {
  stream_id: string;
  iss: string;
  aud: string;
  events_supported: string[];
  events_requested: string[];
  events_delivered: string[];
  delivery: { method: typeof POLL_DELIVERY; endpoint_url: string };
  description?: string;
  inactivity_timeout: number;
  min_verification_interval: number;
};

export type StreamSettings = { issuer: string; inactivityTimeout: number; minVerificationInterval: number };

/** The poll endpoint of a stream: `<origin>/ssf/poll/<stream_id>`. */
export const pollEndpoint = (issuer: string, streamId: string) => `${new URL(issuer).origin}/ssf/poll/${streamId}`;

/** What the transmitter sets for a stream of `receiver`, before the receiver's fields. */
function transmitterFields(id: string, receiver: string, settings: StreamSettings) {
  return {
    stream_id: id,
    iss: settings.issuer,
    aud: receiver,
    events_supported: [...EVENTS_SUPPORTED],
    inactivity_timeout: settings.inactivityTimeout,
    min_verification_interval: settings.minVerificationInterval,
  };
}

function parseDelivery(value: unknown, endpointUrl: string): StreamConfig['delivery'] {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw invalidRequest('delivery must be an object with method "urn:ietf:rfc:8936"');
  const delivery = value as Record<string, unknown>;
  for (const key of Object.keys(delivery)) {
    if (key !== 'method' && key !== 'endpoint_url') throw invalidRequest(`delivery: unknown field "${key}"; allowed: method, endpoint_url`);
  }
  if (delivery.method !== POLL_DELIVERY) throw invalidRequest(`delivery.method must be "${POLL_DELIVERY}" (poll, RFC 8936): the only delivery method supported`);
  // For poll delivery the transmitter names the endpoint; a receiver may echo it, not choose it.
  if (delivery.endpoint_url !== undefined && delivery.endpoint_url !== endpointUrl) throw invalidRequest(`delivery.endpoint_url is set by the transmitter; this stream's is ${endpointUrl}`);
  return { method: POLL_DELIVERY, endpoint_url: endpointUrl };
}

function parseEventsRequested(value: unknown): string[] {
  if (!Array.isArray(value) || value.some((type) => typeof type !== 'string' || type.length === 0 || type.length > MAX_EVENT_TYPE_LENGTH)) {
    throw invalidRequest(`events_requested must be an array of event type URIs (strings of 1-${MAX_EVENT_TYPE_LENGTH} characters)`);
  }
  if (value.length > MAX_EVENTS_REQUESTED) throw invalidRequest(`events_requested must list at most ${MAX_EVENTS_REQUESTED} event types`);
  return [...new Set(value as string[])];
}

function parseDescription(value: unknown): string {
  if (typeof value !== 'string' || value.length > MAX_DESCRIPTION_LENGTH) throw invalidRequest(`description must be a string of at most ${MAX_DESCRIPTION_LENGTH} characters`);
  return value;
}

/** Unknown fields and changed transmitter fields are a 400 naming them. */
function checkFields(body: Record<string, unknown>, expected: Record<string, unknown>) {
  for (const key of Object.keys(body)) {
    if (!KNOWN.has(key)) throw invalidRequest(`unknown field "${key}"; a receiver may set: ${RECEIVER_FIELDS.join(', ')}`);
    if ((TRANSMITTER_FIELDS as readonly string[]).includes(key) && !isDeepStrictEqual(body[key], expected[key])) {
      throw invalidRequest(`${key} is set by the transmitter and cannot be changed`);
    }
  }
}

function build(base: Omit<StreamConfig, 'events_requested' | 'events_delivered' | 'delivery' | 'description'>, delivery: StreamConfig['delivery'], requested: string[], description: string | undefined): StreamConfig {
  const supported = new Set<string>(EVENTS_SUPPORTED);
  return {
    ...base,
    events_requested: requested,
    // Verification and stream-updated are always delivered (eventTypes.ts): they are not listed here.
    events_delivered: requested.filter((type) => supported.has(type)),
    delivery,
    ...(description === undefined ? {} : { description }),
  };
}

/** SSF §8.1.1.1: a new stream's configuration from the receiver's creation request. */
export function newStreamConfig(id: string, receiver: string, body: Record<string, unknown>, settings: StreamSettings): StreamConfig {
  const base = transmitterFields(id, receiver, settings);
  // A new stream has no id the receiver could know.
  if (body.stream_id !== undefined) throw invalidRequest('stream_id is set by the transmitter');
  checkFields(body, base);
  if (body.delivery === undefined) throw invalidRequest('delivery is required: { "method": "urn:ietf:rfc:8936" }');
  const delivery = parseDelivery(body.delivery, pollEndpoint(settings.issuer, id));
  const requested = body.events_requested === undefined ? [] : parseEventsRequested(body.events_requested);
  const description = body.description === undefined ? undefined : parseDescription(body.description);
  return build(base, delivery, requested, description);
}

/**
 * SSF §8.1.1.3 (PATCH, `replace: false`): the receiver's fields given change, the others stay. §8.1.1.4
 * (PUT, `replace: true`): the receiver's fields are all replaced, a missing one is removed.
 */
export function changedStreamConfig(current: StreamConfig, body: Record<string, unknown>, { replace }: { replace: boolean }): StreamConfig {
  checkFields(body, current as unknown as Record<string, unknown>);
  const { events_requested: _r, events_delivered: _d, delivery: _v, description: _s, ...base } = current;
  if (replace && body.delivery === undefined) throw invalidRequest('delivery is required when replacing a stream (PUT)');
  const delivery = body.delivery === undefined ? current.delivery : parseDelivery(body.delivery, current.delivery.endpoint_url);
  const requested = body.events_requested === undefined ? (replace ? [] : current.events_requested) : parseEventsRequested(body.events_requested);
  // PATCH removes the description with null; PUT by leaving it out.
  const description =
    body.description === undefined ? (replace ? undefined : current.description) : body.description === null && !replace ? undefined : parseDescription(body.description);
  return build(base, delivery, requested, description);
}
