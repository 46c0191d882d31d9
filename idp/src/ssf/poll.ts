import type { Context } from 'koa';
import type { Logger } from 'pino';
import { readJsonObject } from '../body.ts';
import { invalidRequest } from '../errors.ts';
import { routeTable } from '../routing.ts';
import type { QueuedEvent, StoredStream, StreamStore } from '../store/types.ts';
import { ownStream } from './streams.ts';

const FIELDS = new Set(['maxEvents', 'returnImmediately', 'ack', 'setErrs']);
/** The most SETs one poll answers (RFC 8936 §2.4: the transmitter may return fewer than maxEvents). */
const MAX_EVENTS = 100;
const MAX_ACKS = 1000;
const JTI = /^[\x21-\x7e]{1,200}$/;
/** Wake-ups one long poll handles before it answers anyway: a bound on a loop of spurious notifications. */
const MAX_ROUNDS = 1000;

type PollRequest = { maxEvents: number; returnImmediately: boolean; ack: string[]; setErrs: Record<string, { err: string; description?: string }> };

function parsePollRequest(body: Record<string, unknown>): PollRequest {
  for (const key of Object.keys(body)) {
    if (!FIELDS.has(key)) throw invalidRequest(`unknown field "${key}"; allowed: ${[...FIELDS].join(', ')}`);
  }
  const { maxEvents = MAX_EVENTS, returnImmediately = false, ack = [], setErrs = {} } = body;
  if (typeof maxEvents !== 'number' || !Number.isInteger(maxEvents) || maxEvents < 0) throw invalidRequest('maxEvents must be a non-negative integer');
  if (typeof returnImmediately !== 'boolean') throw invalidRequest('returnImmediately must be true or false');
  if (!Array.isArray(ack) || ack.length > MAX_ACKS || ack.some((jti) => typeof jti !== 'string' || !JTI.test(jti))) {
    throw invalidRequest(`ack must be an array of at most ${MAX_ACKS} SET jti strings`);
  }
  if (setErrs === null || typeof setErrs !== 'object' || Array.isArray(setErrs) || Object.keys(setErrs).length > MAX_ACKS) {
    throw invalidRequest(`setErrs must be an object of at most ${MAX_ACKS} jti → { err, description }`);
  }
  for (const [jti, error] of Object.entries(setErrs as Record<string, unknown>)) {
    const e = error as Record<string, unknown> | null;
    if (!JTI.test(jti) || e === null || typeof e !== 'object' || typeof e.err !== 'string' || (e.description !== undefined && typeof e.description !== 'string')) {
      throw invalidRequest('setErrs values must be { "err": string, "description"?: string } keyed by SET jti');
    }
  }
  return { maxEvents: Math.min(maxEvents, MAX_EVENTS), returnImmediately, ack: ack as string[], setErrs: setErrs as PollRequest['setErrs'] };
}

/** Aborts when the caller goes away before its answer is written: a waiting poll then stops waiting. */
function disconnection(ctx: Context): AbortController {
  const controller = new AbortController();
  ctx.res.once('close', () => controller.abort());
  return controller;
}

/**
 * `POST /ssf/poll/:streamId`, RFC 8936 with long polling: acknowledgements (and SETs reported in
 * setErrs, which are delivered too: redelivering a SET the receiver cannot process would not help)
 * are deleted first; then up to maxEvents queued SETs are answered. With `returnImmediately: false`
 * an empty queue is waited on (store.waitForEvents, woken across replicas) for up to `longPollMs`,
 * and the answer goes out as soon as an event is queued. A paused or disabled stream delivers nothing.
 */
export function pollRoutes(
  streams: StreamStore,
  sign: (stream: StoredStream, event: QueuedEvent) => Promise<string>,
  { longPollMs, log }: { longPollMs: number; log: Logger },
) {
  return routeTable().post('/ssf/poll/:streamId', async (ctx) => {
    const request = parsePollRequest(await readJsonObject(ctx));
    const stream = await ownStream(streams, ctx, ctx.params.streamId);
    const reported = Object.keys(request.setErrs);
    if (reported.length) log.warn({ stream: stream.id, setErrs: Object.fromEntries(Object.entries(request.setErrs).map(([jti, e]) => [jti, e.err.slice(0, 100)])) }, 'receiver reported SET errors');
    const done = [...new Set([...request.ack, ...reported])];
    if (done.length) await streams.acknowledge(stream.id, done);

    const answer = async (events: QueuedEvent[], current: StoredStream) => {
      const page = events.slice(0, request.maxEvents);
      const sets: Record<string, string> = {};
      for (const event of page) sets[event.jti] = await sign(current, event);
      ctx.body = { sets, moreAvailable: events.length > page.length };
    };

    const gone = disconnection(ctx);
    const deadline = AbortSignal.any([gone.signal, AbortSignal.timeout(longPollMs)]);
    for (let round = 0; ; round += 1) {
      // Subscribed before reading, so an event queued between the read and the wait still wakes us.
      const wake = new AbortController();
      const stopWaiting = () => wake.abort();
      deadline.addEventListener('abort', stopWaiting, { once: true });
      // Held, not thrown, until the wait is needed: a round answered without waiting must not leave an
      // unhandled rejection behind. A failure after our own abort is no failure.
      let failure: { err: unknown } | undefined;
      const woken = streams.waitForEvents(stream.id, wake.signal).then(undefined, (err: unknown) => {
        if (!wake.signal.aborted) failure = { err };
      });
      try {
        const current = await streams.find(stream.id);
        // Deleted while we waited: the receiver learns it from the 404 of its next request.
        if (!current) return answer([], stream);
        const events = current.status === 'enabled' ? await streams.poll(stream.id, request.maxEvents + 1) : [];
        // maxEvents 0 only acknowledges (RFC 8936 §2.4): answered at once, moreAvailable still told.
        if (events.length > 0 || request.maxEvents === 0 || request.returnImmediately || deadline.aborted || round >= MAX_ROUNDS) {
          return answer(events, current);
        }
        await woken;
        if (failure) throw failure.err;
      } finally {
        deadline.removeEventListener('abort', stopWaiting);
        wake.abort();
      }
    }
  });
}
