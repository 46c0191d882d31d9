// A tiny round-robin HTTP load balancer for the `scale` stack (compose.scale.yaml), on node:http only.
//   LB_UPSTREAMS=idp-a:4000,idp-b:4000   the replicas (host:port, comma-separated)
//   PORT=4000, HOST=0.0.0.0               where it listens
// Each request goes to the next healthy upstream; the request's Host header and body are passed
// through unchanged (streamed both ways), X-Forwarded-For is appended, and the response carries
// `X-Upstream: <host:port>` so callers (the smoke test) can see which replica answered. Upstreams are
// probed on GET /healthz every LB_PROBE_MS (default 2000); one that cannot be connected to is marked
// down at once and the request goes to the next (the body is sent only once a connection stands).
// When none is known healthy every upstream is tried anyway. Not a production proxy: local scale-out only.
import { ConfigError, Env, loadOrExit } from './lib/env.ts';
import { Agent, createServer, request, type IncomingHttpHeaders, type IncomingMessage, type OutgoingHttpHeaders, type ServerResponse } from 'node:http';

type Upstream = { name: string; host: string; port: number; healthy: boolean };

const { upstreams, port, host, probeMs } = loadOrExit('lb', () => {
  const env = new Env(process.env);
  const upstreams: Upstream[] = env.list('LB_UPSTREAMS', '').map((name) => {
    if (!URL.canParse(`http://${name}`)) throw new ConfigError('LB_UPSTREAMS', `LB_UPSTREAMS: "${name}" is not a host:port`);
    const url = new URL(`http://${name}`);
    return { name, host: url.hostname, port: Number(url.port || 80), healthy: true };
  });
  if (upstreams.length === 0) throw new ConfigError('LB_UPSTREAMS', 'LB_UPSTREAMS must list at least one host:port');
  return {
    upstreams,
    port: env.port('PORT', 4000),
    host: env.string('HOST', '0.0.0.0'),
    probeMs: env.integer('LB_PROBE_MS', 2000, { min: 100, max: 60_000 }),
  };
});
const agent = new Agent({ keepAlive: true, maxSockets: 256 });

// RFC 9110 §7.6.1: connection-specific headers are not forwarded.
const HOP_BY_HOP = ['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'te', 'trailer', 'upgrade', 'proxy-authorization', 'proxy-authenticate'];
function strip(headers: IncomingHttpHeaders): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = { ...headers };
  for (const name of String(headers.connection ?? '').split(',')) delete out[name.trim().toLowerCase()];
  for (const name of HOP_BY_HOP) delete out[name];
  return out;
}

const log = (msg: string, extra: Record<string, unknown> = {}) =>
  console.log(JSON.stringify({ level: 30, time: Date.now(), name: 'lb', msg, ...extra }));

let next = 0;
function pick(): Upstream {
  const healthy = upstreams.filter((u) => u.healthy);
  const pool = healthy.length ? healthy : upstreams;
  return pool[next++ % pool.length]!;
}

function setHealth(upstream: Upstream, healthy: boolean, why: string): void {
  if (upstream.healthy !== healthy) log(healthy ? 'upstream up' : 'upstream down', { upstream: upstream.name, why });
  upstream.healthy = healthy;
}

function probe(upstream: Upstream): void {
  const req = request({ host: upstream.host, port: upstream.port, path: '/healthz', agent, timeout: 2000 }, (res) => {
    res.resume();
    setHealth(upstream, res.statusCode === 200, `healthz ${res.statusCode}`);
  });
  req.on('timeout', () => req.destroy(new Error('timeout')));
  req.on('error', (err) => setHealth(upstream, false, err.message));
  req.end();
}
setInterval(() => upstreams.forEach(probe), probeMs).unref();
upstreams.forEach(probe);

/** Sends one request to the next upstream. The body is piped only once the connection stands, so a
 *  replica that cannot be reached (stopped, restarting) costs a retry on the next one, not a 502. */
function forward(req: IncomingMessage, res: ServerResponse, attempt: number): void {
  const upstream = pick();
  const headers = strip(req.headers);
  const remote = req.socket.remoteAddress ?? '';
  headers['x-forwarded-for'] = req.headers['x-forwarded-for'] ? `${req.headers['x-forwarded-for']}, ${remote}` : remote;
  let connected = false;
  const proxied = request(
    { host: upstream.host, port: upstream.port, method: req.method, path: req.url, headers, agent },
    (upstreamRes) => {
      const out = strip(upstreamRes.headers);
      out['x-upstream'] = upstream.name;
      res.writeHead(upstreamRes.statusCode ?? 502, upstreamRes.statusMessage, out);
      upstreamRes.pipe(res);
      upstreamRes.on('error', () => res.destroy());
    },
  );
  proxied.on('socket', (socket) => {
    const go = () => {
      connected = true;
      req.pipe(proxied);
    };
    if (socket.connecting) socket.once('connect', go);
    else go();
  });
  proxied.on('error', (err) => {
    const code = (err as NodeJS.ErrnoException).code;
    if (!connected) setHealth(upstream, false, err.message);
    if (!connected && !res.headersSent && attempt + 1 < upstreams.length && !res.destroyed) {
      log('retrying on the next upstream', { upstream: upstream.name, code });
      forward(req, res, attempt + 1);
      return;
    }
    if (!res.headersSent) {
      res.writeHead(502, { 'content-type': 'application/json', 'x-upstream': upstream.name });
      res.end(JSON.stringify({ error: 'bad_gateway', error_description: `upstream ${upstream.name}: ${err.message}` }));
    } else {
      res.destroy();
    }
  });
  // The client went away: stop the upstream exchange too.
  res.once('close', () => {
    if (!res.writableFinished) proxied.destroy();
  });
}

const server = createServer((req, res) => forward(req, res, 0));
server.keepAliveTimeout = 65_000;

server.listen(port, host, () => log('lb listening', { port, upstreams: upstreams.map((u) => u.name) }));
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.on(signal, () => {
    server.close(() => process.exit(0));
    server.closeIdleConnections();
    setTimeout(() => process.exit(0), 5000).unref();
  });
}
