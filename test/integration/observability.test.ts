// Metrics and traces of the real stack: three processes with tracing on, exporting OTLP/HTTP JSON to a
// receiver in this test; /metrics of each parsed with a Prometheus text parser.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { listen, close } from '../../lib/server.ts';
import type { TestIdp } from '../support/idp.ts';
import type { Service } from '../support/process.ts';
import { secretFile } from '../../scripts/seed.ts';
import { AUDIENCE, MODE, serviceApiEnv, solutrixEnv, startSeededIdp, startServiceApi, startSolutrix } from './stack.ts';

type Span = { traceId: string; spanId: string; name: string; service: string; attributes: string };
const spans: Span[] = [];
let receiver: Server;
let otlp: string;
let idp: TestIdp;
let serviceApi: Service;
let solutrix: Service;
let secrets: string[] = [];

before(async () => {
  receiver = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      if (req.method === 'POST' && req.url === '/v1/traces') {
        const data = JSON.parse(body) as {
          resourceSpans: { resource: { attributes: { key: string; value: { stringValue?: string } }[] }; scopeSpans: { spans: { traceId: string; spanId: string; name: string; attributes?: unknown[] }[] }[] }[];
        };
        for (const rs of data.resourceSpans) {
          const service = rs.resource.attributes.find((a) => a.key === 'service.name')?.value.stringValue ?? '?';
          for (const ss of rs.scopeSpans) for (const s of ss.spans) spans.push({ traceId: s.traceId, spanId: s.spanId, name: s.name, service, attributes: JSON.stringify(s) });
        }
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  otlp = `http://127.0.0.1:${await listen(receiver, 0, '127.0.0.1')}`;
  const tracing = { OTEL_EXPORTER_OTLP_ENDPOINT: otlp, OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json', OTEL_BSP_SCHEDULE_DELAY: '100' };
  let credentialsDir: string;
  ({ idp, credentialsDir } = await startSeededIdp(MODE, tracing));
  secrets = ['service-introspector', 'solutrix-api'].map((id) => readFileSync(secretFile(credentialsDir, id), 'utf8').trim());
  serviceApi = await startServiceApi({ ...serviceApiEnv(idp, credentialsDir), ...tracing });
  solutrix = await startSolutrix({ ...solutrixEnv(idp, credentialsDir, serviceApi.origin), ...tracing });
});
after(async () => {
  await Promise.all([solutrix?.stop(), serviceApi?.stop()]);
  await idp?.stop();
  if (receiver) await close(receiver);
});

/** `name{labels} value` lines of the Prometheus text format → value by series. */
async function scrape(origin: string): Promise<Map<string, number>> {
  const res = await fetch(`${origin}/metrics`);
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
  const series = new Map<string, number>();
  for (const line of (await res.text()).split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*(?:\{.*\})?) (\S+)$/.exec(line);
    assert.ok(m, `not a Prometheus sample line: ${line}`);
    // Every series carries the registry's default label service="…": left out of the key.
    series.set(m[1]!.replace(/service="[^"]*",?/, '').replace(',}', '}').replace('{}', ''), Number(m[2]));
  }
  return series;
}

async function waitFor<T>(read: () => T | undefined, what: string, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = read();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe(`observability (ACCESS_TOKEN_FORMAT=${MODE})`, () => {
  it('one GET /v1/service/whoami on Solutrix is one trace with spans from all three services', async () => {
    const res = await fetch(`${solutrix.origin}/v1/service/whoami`);
    assert.equal(res.status, 200);
    // The trace starts at Solutrix's server span: find its trace id in Solutrix's own log line.
    const line = await waitFor(
      () => solutrix.output().split('\n').find((l) => l.includes('"path":"/v1/service/whoami"') && l.includes('"trace_id"')),
      'a Solutrix request line with a trace_id',
    );
    const { trace_id: traceId, span_id: spanId } = JSON.parse(line) as { trace_id: string; span_id: string };
    assert.match(traceId, /^[0-9a-f]{32}$/);
    assert.match(spanId, /^[0-9a-f]{16}$/);
    // Opaque: the Service API introspects at the IDP. JWT: it fetches the JWKS there (first token).
    const services = await waitFor(() => {
      const seen = new Set(spans.filter((s) => s.traceId === traceId).map((s) => s.service));
      return seen.size === 3 ? seen : undefined;
    }, 'spans of idp, service-api and solutrix-api in one trace');
    assert.deepEqual([...services].sort(), ['idp', 'service-api', 'solutrix-api']);
    // The IDP's log line for its part of the call carries the same trace id.
    assert.ok(idp.output().split('\n').some((l) => l.includes(`"trace_id":"${traceId}"`)), 'the IDP logged the trace id');
  });

  it('/metrics parses and its counters move: one token request for 100 concurrent calls, cache hits after', async () => {
    const before = { solutrix: await scrape(solutrix.origin), service: await scrape(serviceApi.origin) };
    const answers = await Promise.all(Array.from({ length: 100 }, () => fetch(`${solutrix.origin}/v1/service/reports`).then((r) => r.status)));
    assert.deepEqual(new Set(answers), new Set([200]));
    const after = { solutrix: await scrape(solutrix.origin), service: await scrape(serviceApi.origin), idp: await scrape(idp.origin) };
    const delta = (side: 'solutrix' | 'service', key: string) => (after[side].get(key) ?? 0) - (before[side].get(key) ?? 0);
    // The token from the first test is still fresh: no new token request, 100 cache hits.
    assert.equal(delta('solutrix', 'solutrix_service_token_requests_total'), 0);
    assert.equal(delta('solutrix', 'solutrix_service_token_cache_hits_total'), 100);
    assert.equal(delta('solutrix', 'solutrix_service_api_call_duration_seconds_count{status="200"}'), 100);
    assert.equal(delta('service', 'service_api_auth_total{outcome="ok"}'), 100);
    if (MODE === 'opaque') assert.equal(delta('service', 'service_api_introspection_cache_total{result="hit"}'), 100);
    else assert.equal(delta('service', 'service_api_jwt_cache_hits_total'), 100);
    assert.equal(after.solutrix.get('solutrix_service_token_requests_total'), 1);
    assert.equal(after.idp.get(`idp_tokens_issued_total{grant_type="client_credentials",token_type="access_token",format="${MODE}"}`), 1);
    assert.ok((after.idp.get('process_resident_memory_bytes') ?? 0) > 0, 'default process metrics');
    assert.ok([...after.idp.keys()].some((k) => k.startsWith('idp_store_operation_duration_seconds_count{operation="ClientCredentials.') || k.includes('operation="Client.find"')), 'store latency');
  });

  it('a token missing its scope and a garbage token are counted by outcome', async () => {
    const before = await scrape(serviceApi.origin);
    const bad = await fetch(`${serviceApi.origin}/v1/whoami`, { headers: { authorization: 'Bearer not-a-real-token-1234567890' } });
    assert.equal(bad.status, 401);
    const none = await fetch(`${serviceApi.origin}/v1/whoami`);
    assert.equal(none.status, 401);
    const after = await scrape(serviceApi.origin);
    const delta = (k: string) => (after.get(k) ?? 0) - (before.get(k) ?? 0);
    assert.equal(delta('service_api_auth_total{outcome="invalid_token"}'), 1);
    assert.equal(delta('service_api_auth_total{outcome="missing_token"}'), 1);
  });

  it('no client secret, admin token or access token in metrics, spans or log lines', async () => {
    const t = await fetch(`${idp.issuer}/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`solutrix-api:${secrets[1]}`).toString('base64')}` },
      body: new URLSearchParams({ grant_type: 'client_credentials', scope: 'service.api', ...(MODE === 'jwt' ? { resource: AUDIENCE } : {}) }),
    });
    const accessToken = ((await t.json()) as { access_token: string }).access_token;
    await fetch(`${serviceApi.origin}/v1/whoami?code=query-secret-value`, { headers: { authorization: `Bearer ${accessToken}` } });
    await new Promise((r) => setTimeout(r, 500)); // the exporters' 100 ms batch delay
    const texts = [
      ...(await Promise.all([idp, serviceApi, solutrix].map((s) => fetch(`${s.origin}/metrics`).then((r) => r.text())))),
      JSON.stringify(spans),
      idp.output(),
      serviceApi.output(),
      solutrix.output(),
    ];
    const needles = [...secrets, idp.adminToken, accessToken, 'query-secret-value'];
    for (const text of texts) for (const needle of needles) assert.ok(!text.includes(needle), 'a secret, token or query value leaked');
    assert.ok(spans.length > 0);
  });

  it('an X-Forwarded-For header does not decide who reads /metrics (refusal of real non-loopback sockets: test/lib/metrics.test.ts)', async () => {
    // Every process here listens on 127.0.0.1 and allows loopback; the refusal is proven in-process
    // by test/lib/metrics.test.ts. Here: a forwarded header does not change what loopback gets.
    const res = await fetch(`${serviceApi.origin}/metrics`, { headers: { 'x-forwarded-for': '203.0.113.9' } });
    assert.equal(res.status, 200);
  });
});
