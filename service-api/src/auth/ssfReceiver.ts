import { LRUCache } from 'lru-cache';
import { createKeySet } from './keySet.ts';
import { clientSecretBasic } from './introspect.ts';
import type { EventsState, Revocations } from './revocations.ts';
import { EVENTS_REQUESTED, verifySet, type SetErrorCode } from './securityEvents.ts';

const POLL_METHOD = 'urn:ietf:rfc:8936';

/** The few pino methods the receiver logs with. Never given a token or a SET. */
export type ReceiverLog = {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
};

export type SsfReceiverOptions = {
  /** The transmitter's metadata, e.g. `http://localhost:4000/.well-known/ssf-configuration/oauth`. */
  configurationUrl: string | URL;
  /** The IDP's issuer: required `iss` of the metadata and of every SET; its token endpoint is discovered from it. */
  issuer: string;
  /** Our client (the stream's receiver and every SET's `aud`), authenticated with HTTP Basic. */
  clientId: string;
  clientSecret: string;
  /** What the events are applied to (and whose state `/healthz` reports). */
  revocations: Revocations;
  /** The token endpoint, when the issuer's own URL is not reachable from here (compose). Default: discovered from `issuer`. */
  tokenUrl?: string | URL | undefined;
  /** RFC 8707 resource of the stream-management token. Default `<issuer origin>/ssf`. */
  resource?: string;
  /** Default `ssf.manage`. */
  scope?: string;
  /** Per management request (discovery, token, create, delete). Default 5000. */
  timeoutMs?: number;
  /** Per long poll: longer than the transmitter's wait (25 s). Default 40000. */
  pollTimeoutMs?: number;
  maxEvents?: number;
  /** Waits after failures: doubling from `initialMs` up to `maxMs`. Default 500 → 30000. */
  backoff?: { initialMs: number; maxMs: number };
  /** Remembered SET ids, so a redelivered SET is acknowledged but not applied twice. Default 10000. */
  seenJtiMax?: number;
  /** Epoch ms. Default `Date.now`. */
  now?: () => number;
  fetch?: typeof fetch;
  log?: ReceiverLog;
  /** Each SET applied (by event type), duplicated, or rejected (by error code). */
  onSet?: (result: { applied: string } | { duplicate: true } | { rejected: SetErrorCode }) => void;
};

export interface SsfReceiver {
  /** Begins the loop in the background: create a stream, long-poll it, apply, acknowledge. */
  start(): void;
  /** Ends the loop and deletes our stream (bounded by `timeoutMs`). */
  stop(): Promise<void>;
  readonly streamId: string | undefined;
}

/** The stream is gone (404): whatever it held for us is lost. */
class StreamGone extends Error {}
/** A failure worth a log line and a backoff; `reason` is safe to log (no token, no SET). */
class ReceiverFailure extends Error {}

/**
 * A Shared Signals (SSF 1.0) receiver over RFC 8936 poll delivery, one stream per process: discovers
 * the transmitter, creates its stream, long-polls it (`returnImmediately: false`), verifies every SET
 * (securityEvents.ts), applies it to `revocations`, and acknowledges it in the next poll; a rejected SET
 * goes back in `setErrs`. While polls answer, `revocations` is `connected` and caches may keep answers
 * until `exp`; a failure turns it to `fallback` at once (the caches' own bounds apply again) and is
 * retried with a bounded backoff. A stream found gone (404) or reporting lost events flushes every
 * cache and is replaced.
 *
 * @example
 * ```ts
 * const revocations = createRevocations();
 * const verifier = createIntrospectionVerifier({ ...options, revocations });
 * const receiver = createSsfReceiver({
 *   configurationUrl: 'http://localhost:4000/.well-known/ssf-configuration/oauth',
 *   issuer: 'http://localhost:4000/oauth',
 *   clientId: 'service-introspector',
 *   clientSecret: process.env.INTROSPECTION_CLIENT_SECRET!,
 *   revocations,
 *   log,
 * });
 * receiver.start();
 * process.on('SIGTERM', () => receiver.stop().finally(() => process.exit(0)));
 * ```
 */
export function createSsfReceiver(options: SsfReceiverOptions): SsfReceiver {
  const {
    issuer,
    clientId,
    clientSecret,
    revocations,
    scope = 'ssf.manage',
    timeoutMs = 5000,
    pollTimeoutMs = 40_000,
    maxEvents = 100,
    backoff = { initialMs: 500, maxMs: 30_000 },
    seenJtiMax = 10_000,
    now = Date.now,
    fetch: fetchImpl = globalThis.fetch,
    log,
    onSet,
  } = options;
  const configurationUrl = new URL(String(options.configurationUrl));
  const issuerOrigin = new URL(issuer).origin;
  const resource = options.resource ?? `${issuerOrigin}/ssf`;
  // The transmitter advertises URLs on the issuer's public origin; reached over another (a compose
  // back channel), they are rewritten to the origin the configuration came from.
  const backChannel = (advertised: string): string => {
    const url = new URL(advertised);
    if (url.origin !== issuerOrigin || configurationUrl.origin === issuerOrigin) return url.href;
    return new URL(`${url.pathname}${url.search}`, configurationUrl.origin).href;
  };
  const seen = new LRUCache<string, true>({ max: seenJtiMax });
  const stopping = new AbortController();

  let transmitter: { configurationEndpoint: string; getKey: ReturnType<typeof createKeySet> } | undefined;
  let tokenUrl = options.tokenUrl === undefined ? undefined : String(options.tokenUrl);
  const basicAuth = clientSecretBasic(clientId, clientSecret);
  let accessToken: { value: string; refreshAt: number } | undefined;
  let stream: { id: string; pollUrl: string } | undefined;
  let ack: string[] = [];
  let setErrs: Record<string, { err: SetErrorCode; description: string }> = {};
  let loop: Promise<void> | undefined;

  const signal = (ms: number) => AbortSignal.any([stopping.signal, AbortSignal.timeout(ms)]);

  function setState(state: EventsState, reason: string, newStream = false): void {
    const before = revocations.state;
    revocations.setState(state, newStream);
    if (before === state) return;
    if (state === 'connected') log?.info({ streamId: stream?.id, was: before }, before === 'fallback' ? 'revocation events recovered' : 'revocation events connected');
    else log?.warn({ streamId: stream?.id, reason }, `revocation events ${state}: caches are bounded by their max TTL again`);
  }

  async function discover() {
    if (transmitter) return transmitter;
    const res = await call(configurationUrl, { method: 'GET' }, false);
    const body = await json(res, 'SSF configuration');
    if (res.status !== 200 || body.issuer !== issuer || typeof body.jwks_uri !== 'string' || typeof body.configuration_endpoint !== 'string') {
      throw new ReceiverFailure(`the SSF configuration answered ${res.status} without this issuer, jwks_uri and configuration_endpoint`);
    }
    if (Array.isArray(body.delivery_methods_supported) && !body.delivery_methods_supported.includes(POLL_METHOD)) {
      throw new ReceiverFailure('the transmitter does not offer poll delivery');
    }
    transmitter = {
      configurationEndpoint: backChannel(body.configuration_endpoint),
      getKey: createKeySet({ jwksUrl: backChannel(body.jwks_uri), timeoutMs, fetch: fetchImpl }),
    };
    return transmitter;
  }

  /** The token endpoint: given, or from the issuer's RFC 8414 metadata (fetched once it answers). */
  async function tokenEndpoint(): Promise<string> {
    if (tokenUrl !== undefined) return tokenUrl;
    const issuerUrl = new URL(issuer);
    const metadataUrl = `${issuerUrl.origin}/.well-known/oauth-authorization-server${issuerUrl.pathname.replace(/\/+$/, '')}`;
    const res = await call(metadataUrl, { method: 'GET' }, false);
    const body = await json(res, 'authorization server metadata');
    if (res.status !== 200 || body.issuer !== issuer || typeof body.token_endpoint !== 'string') {
      throw new ReceiverFailure(`the authorization server metadata answered ${res.status} without this issuer and a token_endpoint`);
    }
    tokenUrl = backChannel(body.token_endpoint);
    return tokenUrl;
  }

  /** client_credentials (RFC 6749 §4.4) with HTTP Basic, as the introspection verifier authenticates. */
  async function token(): Promise<string> {
    if (accessToken && now() < accessToken.refreshAt) return accessToken.value;
    const res = await call(await tokenEndpoint(), {
      method: 'POST',
      headers: { authorization: basicAuth, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'client_credentials', scope, resource }),
    }, false);
    const body = await json(res, 'token');
    if (res.status === 401 || body.error === 'invalid_client') {
      log?.error({ variable: 'INTROSPECTION_CLIENT_ID', clientId }, 'configuration error: the IDP rejects the client credentials of the revocation-event stream');
    }
    if (res.status !== 200 || typeof body.access_token !== 'string') {
      throw new ReceiverFailure(`no stream-management token (${res.status}${typeof body.error === 'string' ? ` ${body.error}` : ''})`);
    }
    // Refreshed at half its life: a stream call must never carry a token about to expire.
    const lifeMs = (typeof body.expires_in === 'number' ? body.expires_in : 60) * 1000;
    accessToken = { value: body.access_token, refreshAt: now() + lifeMs / 2 };
    return body.access_token;
  }

  /** A request to the transmitter; with `auth`, one retry with a fresh token after a 401. */
  async function call(url: string | URL, init: RequestInit, auth = true, ms = timeoutMs, abortable = true): Promise<Response> {
    for (let attempt = 0; ; attempt += 1) {
      const headers: Record<string, string> = { accept: 'application/json', ...(init.body ? { 'content-type': 'application/json' } : {}), ...(init.headers as Record<string, string> | undefined) };
      if (auth) headers.authorization = `Bearer ${await token()}`;
      let res: Response;
      try {
        res = await fetchImpl(url, { ...init, headers, redirect: 'error', signal: abortable ? signal(ms) : AbortSignal.timeout(ms) });
      } catch (err) {
        if (abortable && stopping.signal.aborted) throw err;
        throw new ReceiverFailure(`${init.method} ${new URL(String(url)).pathname} failed`, { cause: err });
      }
      if (res.status !== 401 || !auth || attempt > 0) return res;
      await res.body?.cancel();
      accessToken = undefined;
    }
  }

  async function createStream(): Promise<void> {
    const { configurationEndpoint } = await discover();
    const res = await call(configurationEndpoint, {
      method: 'POST',
      body: JSON.stringify({ delivery: { method: POLL_METHOD }, events_requested: EVENTS_REQUESTED, description: `service-api pid ${process.pid}` }),
    });
    const body = await json(res, 'stream creation');
    const delivery = body.delivery as Record<string, unknown> | undefined;
    if (res.status !== 201 || typeof body.stream_id !== 'string' || typeof delivery?.endpoint_url !== 'string') {
      throw new ReceiverFailure(`stream creation answered ${res.status}${typeof body.error === 'string' ? ` ${body.error}` : ''}`);
    }
    stream = { id: body.stream_id, pollUrl: backChannel(delivery.endpoint_url) };
    ack = [];
    setErrs = {};
    // Covered from the answer on: an introspection asked before it may predate an event nobody queued.
    setState('connected', 'stream created', true);
  }

  async function pollOnce(current: { id: string; pollUrl: string }): Promise<boolean> {
    const sentAck = ack;
    const sentErrs = setErrs;
    const res = await call(
      current.pollUrl,
      { method: 'POST', body: JSON.stringify({ maxEvents, returnImmediately: false, ...(sentAck.length ? { ack: sentAck } : {}), ...(Object.keys(sentErrs).length ? { setErrs: sentErrs } : {}) }) },
      true,
      pollTimeoutMs,
    );
    if (res.status === 404) {
      await res.body?.cancel();
      throw new StreamGone('the stream is gone');
    }
    const body = await json(res, 'poll');
    if (res.status !== 200 || typeof body.sets !== 'object' || body.sets === null) throw new ReceiverFailure(`poll answered ${res.status}`);
    // Delivered with this poll: the transmitter has them now.
    ack = ack.slice(sentAck.length);
    for (const jti of Object.keys(sentErrs)) delete setErrs[jti];
    setState('connected', 'poll answered');
    let lost = false;
    for (const [jti, compact] of Object.entries(body.sets as Record<string, unknown>)) {
      if (typeof compact !== 'string') {
        setErrs[jti] = { err: 'invalid_request', description: 'the SET is not a compact JWS' };
        continue;
      }
      if (seen.has(jti)) {
        ack.push(jti);
        onSet?.({ duplicate: true });
        continue;
      }
      const verdict = await verifySet(compact, jti, { getKey: transmitter!.getKey, issuer, audience: clientId, now });
      if (verdict.outcome === 'retry') continue;
      if (verdict.outcome === 'reject') {
        setErrs[jti] = { err: verdict.err, description: verdict.description };
        log?.warn({ streamId: current.id, err: verdict.err, reason: verdict.description }, 'revocation event rejected');
        onSet?.({ rejected: verdict.err });
        continue;
      }
      const { action } = verdict;
      if (action.kind === 'revoke') {
        revocations.apply(action.revocation);
        onSet?.({ applied: action.revocation.kind });
      } else if (action.kind === 'stream' && action.lost && (action.streamId === undefined || action.streamId === current.id)) {
        lost = true;
        onSet?.({ applied: 'stream-updated' });
      }
      seen.set(jti, true);
      ack.push(jti);
    }
    return !lost;
  }

  /** Whatever the stream held for us may be lost: forget everything cached and start a new one. */
  function streamLost(reason: string): void {
    const flushed = revocations.apply({ kind: 'all' });
    log?.warn({ streamId: stream?.id, reason, flushed }, 'revocation events may have been lost: caches flushed, creating a new stream');
    setState('connecting', reason);
    stream = undefined;
  }

  /** `abortable: false` when stopping: the stop signal has fired by then. */
  async function deleteStream(id: string, abortable = true): Promise<void> {
    const res = await call(`${transmitter!.configurationEndpoint}?stream_id=${encodeURIComponent(id)}`, { method: 'DELETE' }, true, timeoutMs, abortable);
    await res.body?.cancel();
    if (res.status !== 204 && res.status !== 404) throw new ReceiverFailure(`stream deletion answered ${res.status}`);
  }

  async function run(): Promise<void> {
    let waitMs = backoff.initialMs;
    while (!stopping.signal.aborted) {
      try {
        if (stream === undefined) await createStream();
        if (!(await pollOnce(stream!))) {
          const old = stream!.id;
          streamLost('the stream reported lost events');
          await deleteStream(old).catch((err: unknown) => log?.warn({ err: safe(err) }, 'could not delete the old stream'));
        }
        waitMs = backoff.initialMs;
        continue;
      } catch (err) {
        if (stopping.signal.aborted) break;
        if (err instanceof StreamGone) {
          streamLost('the stream is gone');
          // Straight to a new stream: no wait, unless creating it fails too.
          continue;
        }
        const reason = err instanceof ReceiverFailure ? err.message : 'unexpected error';
        setState(stream === undefined && revocations.state === 'connecting' ? 'connecting' : 'fallback', reason);
        // Not ours (a bug): logged as one, and retried with the same backoff rather than ending the loop.
        if (err instanceof ReceiverFailure) log?.warn({ err: safe(err), retryInMs: waitMs }, 'revocation events unavailable');
        else log?.error({ err: safe(err), retryInMs: waitMs }, 'revocation-event receiver error');
      }
      await sleep(waitMs, stopping.signal);
      waitMs = Math.min(waitMs * 2, backoff.maxMs);
    }
  }

  return {
    get streamId() {
      return stream?.id;
    },
    start() {
      loop ??= run();
    },
    async stop() {
      stopping.abort();
      await loop;
      const current = stream;
      stream = undefined;
      revocations.setState('connecting');
      if (current === undefined || transmitter === undefined) return;
      try {
        await deleteStream(current.id, false);
        log?.info({ streamId: current.id }, 'revocation-event stream deleted');
      } catch (err) {
        // Unpolled, the IDP purges it after its inactivity_timeout.
        log?.warn({ streamId: current.id, err: safe(err) }, 'could not delete the revocation-event stream');
      }
    },
  };
}

async function json(res: Response, what: string): Promise<Record<string, unknown>> {
  const text = await res.text();
  if (text === '') return {};
  try {
    const body: unknown = JSON.parse(text);
    return typeof body === 'object' && body !== null && !Array.isArray(body) ? (body as Record<string, unknown>) : {};
  } catch {
    throw new ReceiverFailure(`the ${what} answer (${res.status}) is not JSON`);
  }
}

/** What a log line may show of a failure: our own message and the network error's code. */
function safe(err: unknown): { message: string; cause?: string } {
  if (!(err instanceof Error)) return { message: 'unknown error' };
  const cause = err.cause instanceof Error ? ((err.cause as { code?: string }).code ?? err.cause.name) : undefined;
  return { message: err.message, ...(cause ? { cause } : {}) };
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}
