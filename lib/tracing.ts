// OpenTelemetry tracing, preloaded before a service's own modules:
//   node --import tsx --import ./lib/tracing.ts idp/src/main.ts
// It is configured by OpenTelemetry's own variables (OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_SERVICE_NAME,
// OTEL_EXPORTER_OTLP_PROTOCOL, OTEL_TRACES_SAMPLER, OTEL_BSP_SCHEDULE_DELAY, ...) and is OFF unless
// an exporter is named: OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_EXPORTER_OTLP_TRACES_ENDPOINT or
// OTEL_TRACES_EXPORTER. Off, this file imports nothing: no SDK, no loader hook, no patched module.
//
// This is the one place besides the services' config.ts that reads process.env: the SDK itself reads
// the same OTEL_* variables, and the decision must be taken before any module it instruments loads.
import { register } from 'node:module';
import type { IncomingMessage } from 'node:http';
import { Env } from './env.ts';

export type TracingSettings = { enabled: false } | { enabled: true; exporter: 'otlp' | 'console'; protocol: 'http/json' | 'http/protobuf' | 'grpc'; serviceName: string };

const SERVICES = ['idp', 'service-api', 'solutrix-api'];

/** Reads the OTEL_* variables that decide whether, and where, spans go. Throws naming the variable. */
export function tracingSettings(source: NodeJS.ProcessEnv = process.env, entry = process.argv[1] ?? ''): TracingSettings {
  const env = new Env(source);
  if (/^(true|1)$/i.test(env.optional('OTEL_SDK_DISABLED') ?? '')) return { enabled: false };
  const exporters = (env.optional('OTEL_TRACES_EXPORTER') ?? '').split(',').map((s) => s.trim()).filter(Boolean);
  const endpoint = env.optional('OTEL_EXPORTER_OTLP_TRACES_ENDPOINT') ?? env.optional('OTEL_EXPORTER_OTLP_ENDPOINT');
  if (exporters.length === 0 && endpoint === undefined) return { enabled: false };
  if (exporters.includes('none')) return { enabled: false };
  if (exporters.length > 1) throw new TypeError(`OTEL_TRACES_EXPORTER: name one exporter (otlp or console), got "${exporters.join(',')}"`);
  const exporter = exporters[0] ?? 'otlp';
  if (exporter !== 'otlp' && exporter !== 'console') throw new TypeError(`OTEL_TRACES_EXPORTER must be otlp, console or none, got "${exporter}"`);
  const protocol = env.oneOf(
    env.optional('OTEL_EXPORTER_OTLP_TRACES_PROTOCOL') ? 'OTEL_EXPORTER_OTLP_TRACES_PROTOCOL' : 'OTEL_EXPORTER_OTLP_PROTOCOL',
    ['http/protobuf', 'http/json', 'grpc'] as const,
    'http/protobuf',
  );
  // The entry point names the service when OTEL_SERVICE_NAME does not (idp/src/main.ts → idp).
  const fromEntry = SERVICES.find((name) => entry.replace(/\\/g, '/').includes(`/${name}/src/`));
  return { enabled: true, exporter, protocol, serviceName: env.string('OTEL_SERVICE_NAME', fromEntry ?? 'solutrix-stack') };
}

/** Never leaves the process: URLs lose their query (codes, states), header attributes are dropped. */
const URL_KEYS = ['http.url', 'http.target', 'url.full', 'http.request.url'];
const DROPPED_KEYS = ['url.query'];

export function scrubAttributes(attributes: Record<string, unknown>): void {
  for (const key of Object.keys(attributes)) {
    if (DROPPED_KEYS.includes(key) || key.startsWith('http.request.header.') || key.startsWith('http.response.header.')) {
      delete attributes[key];
    } else if (URL_KEYS.includes(key) && typeof attributes[key] === 'string') {
      const value = attributes[key] as string;
      const cut = value.search(/[?#]/);
      if (cut !== -1) attributes[key] = value.slice(0, cut);
    }
  }
}

/** Probes and scrapes make no spans: they would drown the requests a person is looking for. */
export function isQuietPath(req: IncomingMessage): boolean {
  const path = (req.url ?? '').split('?', 1)[0];
  return path === '/healthz' || path === '/metrics';
}

let shutdown: () => Promise<void> = async () => {};

/** Flushes the spans still buffered (main.ts calls it on SIGTERM); a no-op when tracing is off. */
export function shutdownTracing(): Promise<void> {
  return shutdown();
}

/** `{ trace_id, span_id }` of the active span, for log lines; `undefined` when tracing is off. */
export let activeTraceFields: (() => Record<string, string>) | undefined;

async function start(settings: Extract<TracingSettings, { enabled: true }>): Promise<void> {
  // The ESM loader hook must be registered before express/koa/oidc-provider are imported: the
  // instrumentations patch them as they load (import-in-the-middle), CommonJS requires included.
  register('@opentelemetry/instrumentation/hook.mjs', import.meta.url);
  const [{ NodeSDK, tracing }, api, { HttpInstrumentation }, { UndiciInstrumentation }, { ExpressInstrumentation, ExpressLayerType }, { KoaInstrumentation, KoaLayerType }] =
    await Promise.all([
      import('@opentelemetry/sdk-node'),
      import('@opentelemetry/api'),
      import('@opentelemetry/instrumentation-http'),
      import('@opentelemetry/instrumentation-undici'),
      import('@opentelemetry/instrumentation-express'),
      import('@opentelemetry/instrumentation-koa'),
    ]);
  type SpanExporter = import('@opentelemetry/sdk-node').tracing.SpanExporter;
  type ReadableSpan = import('@opentelemetry/sdk-node').tracing.ReadableSpan;

  let inner: SpanExporter;
  if (settings.exporter === 'console') inner = new tracing.ConsoleSpanExporter();
  else if (settings.protocol === 'http/json') inner = new (await import('@opentelemetry/exporter-trace-otlp-http')).OTLPTraceExporter();
  // Both come with @opentelemetry/sdk-node, which uses them for the same protocols.
  else if (settings.protocol === 'grpc') inner = new (await import('@opentelemetry/exporter-trace-otlp-grpc')).OTLPTraceExporter();
  else inner = new (await import('@opentelemetry/exporter-trace-otlp-proto')).OTLPTraceExporter();

  // Scrubbed at export, whatever an instrumentation recorded: nothing secret leaves the process.
  const exporter: SpanExporter = {
    export(spans: ReadableSpan[], done) {
      for (const span of spans) {
        scrubAttributes(span.attributes as Record<string, unknown>);
        for (const event of span.events) if (event.attributes) scrubAttributes(event.attributes as Record<string, unknown>);
      }
      inner.export(spans, done);
    },
    shutdown: () => inner.shutdown(),
    forceFlush: () => inner.forceFlush?.() ?? Promise.resolve(),
  };

  const sdk = new NodeSDK({
    serviceName: settings.serviceName,
    traceExporter: exporter,
    // Traces only: Prometheus metrics come from prom-client at /metrics, logs from pino.
    metricReaders: [],
    instrumentations: [
      new HttpInstrumentation({
        ignoreIncomingRequestHook: isQuietPath,
        // No header is ever recorded (tokens, cookies, Basic credentials travel in headers).
        headersToSpanAttributes: { client: { requestHeaders: [], responseHeaders: [] }, server: { requestHeaders: [], responseHeaders: [] } },
      }),
      new UndiciInstrumentation({ headersToSpanAttributes: { requestHeaders: [], responseHeaders: [] } }),
      // Route handlers make spans, every middleware layer would be noise.
      new ExpressInstrumentation({ ignoreLayersType: [ExpressLayerType.MIDDLEWARE] }),
      new KoaInstrumentation({ ignoreLayersType: [KoaLayerType.MIDDLEWARE] }),
    ],
  });
  sdk.start();
  shutdown = () => sdk.shutdown().catch(() => {});
  activeTraceFields = (): Record<string, string> => {
    const span = api.trace.getActiveSpan();
    if (span === undefined) return {};
    const { traceId, spanId } = span.spanContext();
    return { trace_id: traceId, span_id: spanId };
  };
}

const settings = tracingSettings();
if (settings.enabled) await start(settings);
