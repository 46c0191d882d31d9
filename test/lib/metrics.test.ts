import assert from 'node:assert/strict';
import { createServer, request } from 'node:http';
import { networkInterfaces } from 'node:os';
import { after, before, describe, it } from 'node:test';
import { Counter } from 'prom-client';
import { createRegistry, parseMetricsAllow, serveMetrics, type MetricsAccess } from '../../lib/metrics.ts';
import { close, listen } from '../../lib/server.ts';

/** A non-loopback address of this machine, so a real socket can arrive from outside 127.0.0.0/8. */
const external = Object.values(networkInterfaces()).flat().find((a) => a && a.family === 'IPv4' && !a.internal)?.address;

function get(port: number, host: string, headers: Record<string, string> = {}): Promise<{ status: number; type: string; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host, port, path: '/metrics', localAddress: host, headers }, (res) => {
      let body = '';
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode!, type: String(res.headers['content-type']), body }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('METRICS_ALLOW', () => {
  it('allows loopback always, and the named IPs and CIDR blocks', () => {
    const access = parseMetricsAllow('10.0.0.0/8, 192.0.2.7,fd00::/8');
    for (const ok of ['127.0.0.1', '127.9.9.9', '::1', '::ffff:127.0.0.1', '10.1.2.3', '::ffff:10.1.2.3', '192.0.2.7', 'fd00::2']) assert.equal(access.allows(ok), true, ok);
    for (const no of ['192.0.2.8', '11.0.0.1', 'fe80::1', '::ffff:192.0.2.8', undefined, 'garbage']) assert.equal(access.allows(no), false, String(no));
    assert.equal(parseMetricsAllow(undefined).allows('10.1.2.3'), false);
  });

  it('rejects malformed entries with a message naming the variable', () => {
    for (const bad of ['10.0.0.0/33', 'example.com', '10.0.0.0/8/1', '10.0.0/8', 'fd00::/129', '10.0.0.0/x']) {
      assert.throws(() => parseMetricsAllow(bad), (err: Error) => err instanceof TypeError && err.message.startsWith('METRICS_ALLOW must be'), bad);
    }
  });
});

describe('GET /metrics from a real socket', () => {
  let port: number;
  let access: MetricsAccess = parseMetricsAllow(undefined);
  const registry = createRegistry('test');
  new Counter({ name: 'test_things_total', help: 'things', registers: [registry] }).inc(3);
  const server = createServer((req, res) => void serveMetrics(registry, access, req, res));
  before(async () => {
    port = await listen(server, 0, '0.0.0.0');
  });
  after(() => close(server));

  it('serves Prometheus text to loopback', async () => {
    const res = await get(port, '127.0.0.1');
    assert.equal(res.status, 200);
    assert.match(res.type, /^text\/plain; version=0\.0\.4/);
    assert.match(res.body, /^test_things_total\{service="test"\} 3$/m);
  });

  it('refuses (403 JSON) a non-loopback address, whatever X-Forwarded-For says; serves it once METRICS_ALLOW names it', async (t) => {
    if (external === undefined) return t.skip('this machine has no non-loopback IPv4 interface');
    access = parseMetricsAllow(undefined);
    const refused = await get(port, external, { 'x-forwarded-for': '127.0.0.1' });
    assert.equal(refused.status, 403);
    assert.deepEqual(JSON.parse(refused.body), { error: 'access_denied', error_description: 'metrics are served to loopback and METRICS_ALLOW addresses only' });
    access = parseMetricsAllow(`${external}/32`);
    const allowed = await get(port, external);
    assert.equal(allowed.status, 200);
    assert.match(allowed.body, /test_things_total/);
  });
});
