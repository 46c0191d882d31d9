import { randomBytes } from 'node:crypto';
import type { Context } from 'koa';
import { LRUCache } from 'lru-cache';
import { readJsonObject } from '../body.ts';
import { HttpError, invalidRequest, notFound } from '../errors.ts';
import { routeTable } from '../routing.ts';
import type { StoredStream, StreamStatus, StreamStore } from '../store/types.ts';
import { receiverOf } from './auth.ts';
import { changedStreamConfig, newStreamConfig, type StreamConfig, type StreamSettings } from './streamConfig.ts';

const STREAM_ID = /^[A-Za-z0-9_-]{1,64}$/;
const STATUSES = new Set<StreamStatus>(['enabled', 'paused', 'disabled']);
const MAX_REASON_LENGTH = 1000;
const MAX_STATE_LENGTH = 1000;

export type StreamRouteSettings = StreamSettings & { maxStreamsPerClient: number };

/** One stream of the caller's, or the 404 a stream of nobody gets too: another receiver's streams are not revealed. */
export async function ownStream(streams: StreamStore, ctx: Context, id: unknown): Promise<StoredStream> {
  if (id === undefined) throw invalidRequest('stream_id is required');
  if (typeof id !== 'string') throw invalidRequest('stream_id must be a string');
  const stream = STREAM_ID.test(id) ? await streams.find(id) : undefined;
  if (!stream || stream.clientId !== receiverOf(ctx)) throw notFound(`no stream "${id.slice(0, 64)}"`);
  return stream;
}

/** `?stream_id=` once, or undefined; repeated is a 400. */
function queryStreamId(ctx: Context): string | undefined {
  const value = ctx.query.stream_id;
  if (Array.isArray(value)) throw invalidRequest('stream_id must be given once');
  return value;
}

const statusOf = (stream: StoredStream) => ({ stream_id: stream.id, status: stream.status, ...(stream.reason ? { reason: stream.reason } : {}) });

/**
 * SSF 1.0 §8.1.1-8.1.4 under /ssf (after requireSsfToken): streams, their status and verification.
 * Every stream belongs to the client of the token that created it.
 */
export function streamRoutes(streams: StreamStore, settings: StreamRouteSettings, now = () => Date.now()) {
  // Last verification request per stream, for min_verification_interval. Per replica: with N replicas
  // a receiver may verify up to N times per interval, which still bounds a flood.
  const lastVerification = new LRUCache<string, number>({ max: 10_000 });
  const configOf = (stream: StoredStream) => stream.config as StreamConfig;

  async function save(stream: StoredStream, config: StreamConfig) {
    const updated = { ...stream, config };
    if (!(await streams.update(updated))) throw notFound(`no stream "${stream.id}"`);
    return config;
  }

  return routeTable()
    .get('/ssf/streams', async (ctx) => {
      const id = queryStreamId(ctx);
      ctx.body = id === undefined ? (await streams.listForClient(receiverOf(ctx))).map(configOf) : configOf(await ownStream(streams, ctx, id));
    })
    .post('/ssf/streams', async (ctx) => {
      const receiver = receiverOf(ctx);
      const body = await readJsonObject(ctx);
      const id = randomBytes(16).toString('base64url');
      const config = newStreamConfig(id, receiver, body, settings);
      // Checked before creating: concurrent requests may pass it together, so the bound is approximate
      // by at most the requests in flight, which still stops a flood.
      if ((await streams.listForClient(receiver)).length >= settings.maxStreamsPerClient) {
        throw new HttpError(409, 'invalid_request', `a receiver may have at most ${settings.maxStreamsPerClient} streams; delete one first`);
      }
      const at = Math.floor(now() / 1000);
      await streams.create({ id, clientId: receiver, status: 'enabled', reason: null, config, createdAt: at, lastPolledAt: at });
      ctx.status = 201;
      ctx.set('Location', `/ssf/streams?stream_id=${id}`);
      ctx.body = config;
    })
    .patch('/ssf/streams', async (ctx) => {
      const body = await readJsonObject(ctx);
      const stream = await ownStream(streams, ctx, body.stream_id);
      ctx.body = await save(stream, changedStreamConfig(configOf(stream), body, { replace: false }));
    })
    .put('/ssf/streams', async (ctx) => {
      const body = await readJsonObject(ctx);
      const stream = await ownStream(streams, ctx, body.stream_id);
      ctx.body = await save(stream, changedStreamConfig(configOf(stream), body, { replace: true }));
    })
    .delete('/ssf/streams', async (ctx) => {
      const stream = await ownStream(streams, ctx, queryStreamId(ctx));
      if (!(await streams.remove(stream.id))) throw notFound(`no stream "${stream.id}"`);
      ctx.status = 204;
    })
    .get('/ssf/status', async (ctx) => {
      ctx.body = statusOf(await ownStream(streams, ctx, queryStreamId(ctx)));
    })
    .post('/ssf/status', async (ctx) => {
      const body = await readJsonObject(ctx);
      for (const key of Object.keys(body)) {
        if (!['stream_id', 'status', 'reason'].includes(key)) throw invalidRequest(`unknown field "${key}"; allowed: stream_id, status, reason`);
      }
      const stream = await ownStream(streams, ctx, body.stream_id);
      if (typeof body.status !== 'string' || !STATUSES.has(body.status as StreamStatus)) throw invalidRequest('status must be "enabled", "paused" or "disabled"');
      if (body.reason !== undefined && (typeof body.reason !== 'string' || body.reason.length > MAX_REASON_LENGTH)) {
        throw invalidRequest(`reason must be a string of at most ${MAX_REASON_LENGTH} characters`);
      }
      const status = body.status as StreamStatus;
      const reason = (body.reason as string | undefined) || null;
      const changed = status !== stream.status || reason !== stream.reason;
      const updated: StoredStream = { ...stream, status, reason };
      if (changed) {
        if (!(await streams.update(updated))) throw notFound(`no stream "${stream.id}"`);
        // SSF §8.1.5: the receiver learns of the change in its own stream (held while paused).
        await streams.enqueue(stream.id, [{ kind: 'stream-updated', status, ...(reason ? { reason } : {}) }]);
      }
      ctx.body = statusOf(updated);
    })
    .post('/ssf/verify', async (ctx) => {
      const body = await readJsonObject(ctx);
      for (const key of Object.keys(body)) {
        if (key !== 'stream_id' && key !== 'state') throw invalidRequest(`unknown field "${key}"; allowed: stream_id, state`);
      }
      const stream = await ownStream(streams, ctx, body.stream_id);
      if (body.state !== undefined && (typeof body.state !== 'string' || body.state.length > MAX_STATE_LENGTH)) {
        throw invalidRequest(`state must be a string of at most ${MAX_STATE_LENGTH} characters`);
      }
      const interval = configOf(stream).min_verification_interval * 1000;
      const at = now();
      const last = lastVerification.get(stream.id);
      if (interval > 0 && last !== undefined && at - last < interval) {
        throw new HttpError(429, 'too_many_requests', `at most one verification per ${interval / 1000} s (min_verification_interval)`, {
          'Retry-After': String(Math.ceil((last + interval - at) / 1000)),
        });
      }
      lastVerification.set(stream.id, at);
      await streams.enqueue(stream.id, [{ kind: 'verification', ...(body.state === undefined ? {} : { state: body.state as string }) }]);
      ctx.status = 204;
    });
}
