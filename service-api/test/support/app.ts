import { Writable } from 'node:stream';
import { after, before, beforeEach } from 'node:test';
import { pino, type Logger } from 'pino';
import { createApp } from '../../src/app.ts';
import { createIntrospectionVerifier, type IntrospectionVerifier } from '../../src/auth/introspect.ts';
import { loadConfig, type Config } from '../../src/config.ts';
import { serve } from './http.ts';
import { frozenClock, IntrospectionStub, STUB_CLIENT_SECRET, STUB_ISSUER } from './introspectionStub.ts';

/** A logger whose JSON lines a test can read back. */
export function capturingLogger(): { log: Logger; lines: string[]; records: () => Record<string, unknown>[] } {
  const lines: string[] = [];
  const log = pino(
    { level: 'debug' },
    new Writable({
      write(chunk: Buffer, _encoding, done) {
        lines.push(chunk.toString());
        done();
      },
    }),
  );
  return { log, lines, records: () => lines.map((line) => JSON.parse(line) as Record<string, unknown>) };
}

/** The stub's environment for loadConfig, plus `extra`. */
export function stubEnv(stub: IntrospectionStub, extra: Record<string, string> = {}): Record<string, string> {
  return ({ IDP_INTROSPECTION_URL: stub.url, INTROSPECTION_CLIENT_SECRET: STUB_CLIENT_SECRET, IDP_ISSUER: STUB_ISSUER, ...extra });
}

export type TestApp = {
  stub: IntrospectionStub;
  clock: ReturnType<typeof frozenClock>;
  /** Expiry (epoch s) of the tokens `token()` makes. */
  exp: number;
  config: Config;
  verifier: IntrospectionVerifier;
  baseUrl: string;
  logLines: string[];
  /** The log lines, parsed. */
  records(): Record<string, unknown>[];
  log: Logger;
  /** A fresh token known to the stub, so the shared verifier's cache stays out of the way. */
  token(claims?: { sub?: string; scope?: string; clientId?: string }): string;
  get(path: string, headers?: Record<string, string>): Promise<{ status: number; headers: Headers; body: unknown }>;
};

/**
 * Registers before/after/beforeEach hooks that run the whole app (createApp, on port 0) against an
 * introspection stub with a frozen clock, and returns what the tests use once the hooks have run.
 */
export function useTestApp(): TestApp {
  const stub = new IntrospectionStub();
  const clock = frozenClock();
  const { log, lines, records } = capturingLogger();
  let stop: () => Promise<void> = async () => {};
  let counter = 0;
  const app: TestApp = {
    stub,
    clock,
    exp: Math.floor(clock.now() / 1000) + 600,
    config: undefined as unknown as Config,
    verifier: undefined as unknown as IntrospectionVerifier,
    baseUrl: '',
    logLines: lines,
    records,
    log,
    token(claims = {}) {
      const value = `tok-${++counter}-${'x'.repeat(20)}`;
      stub.tokens.set(value, { clientId: claims.clientId ?? 'solutrix-api', exp: app.exp, ...claims });
      return value;
    },
    async get(path, headers = {}) {
      const res = await fetch(`${app.baseUrl}${path}`, { headers });
      return { status: res.status, headers: res.headers, body: (await res.json()) as unknown };
    },
  };
  before(async () => {
    await stub.start();
    // Generous: on a loaded machine 100 held requests can take seconds to coalesce. The timeout test
    // serves its own app with a short timeout.
    app.config = loadConfig(stubEnv(stub, { INTROSPECTION_TIMEOUT_MS: '10000' }));
    app.verifier = createIntrospectionVerifier({ ...app.config.introspection!, now: clock.now });
    let baseUrl: string;
    ({ baseUrl, stop } = await serve(createApp(app.config, { verifier: app.verifier, log })));
    app.baseUrl = baseUrl;
  });
  after(async () => {
    await stop();
    await stub.stop();
  });
  beforeEach(() => {
    stub.calls.length = 0;
    stub.mode = 'normal';
    stub.gate = undefined;
    stub.tokens.clear();
    stub.clientSecret = STUB_CLIENT_SECRET;
    lines.length = 0;
  });
  return app;
}
