import type { IncomingMessage, ServerResponse } from 'node:http';
import { BlockList, isIP } from 'node:net';
import type { RequestHandler } from 'express';
import type { Middleware } from 'koa';
import { collectDefaultMetrics, Histogram, Registry } from 'prom-client';

/**
 * One Prometheus registry per service. `defaults: true` (main.ts) adds prom-client's process metrics
 * (CPU, memory, event-loop lag, GC); apps built by tests leave them out, so that many apps in one
 * process do not each start an event-loop monitor.
 */
export function createRegistry(service: string, { defaults = false } = {}): Registry {
  const registry = new Registry();
  registry.setDefaultLabels({ service });
  if (defaults) collectDefaultMetrics({ register: registry });
  return registry;
}

/** Latency buckets for calls to another service, in seconds: 1 ms to 5 s. */
export const CALL_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

/**
 * Who may read `/metrics`. Loopback always; anyone else only when `METRICS_ALLOW` names the address
 * or a CIDR block around it. Checked against the socket's peer address, never a forwarded header:
 * a caller chooses its X-Forwarded-For, not its source address.
 */
export type MetricsAccess = { allows(address: string | undefined): boolean; readonly entries: readonly string[] };

/** Parses `METRICS_ALLOW`: comma-separated IPs and CIDR blocks (`10.0.0.0/8`, `fd00::/8`, `192.0.2.7`). */
export function parseMetricsAllow(raw: string | undefined, variable = 'METRICS_ALLOW'): MetricsAccess {
  const list = new BlockList();
  list.addSubnet('127.0.0.0', 8, 'ipv4');
  list.addAddress('::1', 'ipv6');
  const entries = (raw ?? '').split(',').map((s) => s.trim()).filter(Boolean);
  for (const entry of entries) {
    const [address = '', prefix, extra] = entry.split('/');
    const family = isIP(address);
    const bits = prefix === undefined ? undefined : Number(prefix);
    const max = family === 6 ? 128 : 32;
    if (family === 0 || extra !== undefined || (bits !== undefined && (!/^\d{1,3}$/.test(prefix!) || bits > max))) {
      throw new TypeError(`${variable} must be comma-separated IP addresses or CIDR blocks (e.g. 10.0.0.0/8), got "${entry}"`);
    }
    const type = family === 6 ? 'ipv6' : 'ipv4';
    if (bits === undefined) list.addAddress(address, type);
    else list.addSubnet(address, bits, type);
  }
  return {
    entries: Object.freeze(entries),
    allows(address) {
      if (address === undefined) return false;
      // An IPv4 client of a dual-stack socket shows up as ::ffff:a.b.c.d.
      const v4 = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address)?.[1];
      if (v4 !== undefined) return list.check(v4, 'ipv4');
      const family = isIP(address);
      return family !== 0 && list.check(address, family === 6 ? 'ipv6' : 'ipv4');
    },
  };
}

/**
 * Answers `GET /metrics` (Prometheus text) for `registry`, or 403 `access_denied` (JSON) to an
 * address `access` does not allow. Node-level, so the koa and express adapters below share it.
 */
export async function serveMetrics(registry: Registry, access: MetricsAccess, req: IncomingMessage, res: ServerResponse): Promise<void> {
  res.setHeader('Cache-Control', 'no-store');
  if (!access.allows(req.socket.remoteAddress)) {
    res.writeHead(403, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify({ error: 'access_denied', error_description: 'metrics are served to loopback and METRICS_ALLOW addresses only' }));
    return;
  }
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.writeHead(405, { Allow: 'GET, HEAD', 'Content-Type': 'application/json' });
    res.end(JSON.stringify({ error: 'invalid_request', error_description: 'use GET' }));
    return;
  }
  const body = await registry.metrics();
  res.writeHead(200, { 'Content-Type': registry.contentType });
  res.end(req.method === 'HEAD' ? undefined : body);
}

/** Express: `GET /metrics`, before any other route (and before authentication). */
export function expressMetrics(registry: Registry, access: MetricsAccess): RequestHandler {
  return (req, res, next) => {
    if (req.path !== '/metrics') return next();
    serveMetrics(registry, access, req, res).catch(next);
  };
}

/** Koa: `GET /metrics`; the response is written by {@link serveMetrics}, so koa must not respond. */
export function koaMetrics(registry: Registry, access: MetricsAccess): Middleware {
  return async (ctx, next) => {
    if (ctx.path !== '/metrics') return next();
    ctx.respond = false;
    await serveMetrics(registry, access, ctx.req, ctx.res);
  };
}

/**
 * A fetch that records each call's time to response headers in `histogram`, labelled with the HTTP
 * status or `error` (unreachable, timed out) — bounded labels only, never the URL.
 */
export function timedFetch(histogram: Histogram<'status'>, fetchImpl: typeof fetch = globalThis.fetch): typeof fetch {
  return async (input, init) => {
    const end = histogram.startTimer();
    try {
      const response = await fetchImpl(input, init);
      end({ status: String(response.status) });
      return response;
    } catch (err) {
      end({ status: 'error' });
      throw err;
    }
  };
}
