// The whole stack as real processes (IDP, Service API, Solutrix-API) on free loopback ports, plus the
// helpers the reliability tests share: a raw HTTP client, a bounded load driver, RSS sampling, and the
// log scan that looks for every secret and token value seen during a run.
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { registerClient, startIdp, type RegisteredClient, type TestIdp } from '../support/idp.ts';
import { freePort, startService, type Service } from '../support/process.ts';
import { poll } from '../support/wait.ts';

// A test file the runner times out is killed, and the processes it started would live on (we found
// a handful of orphans that way): every process started here dies with the test file.
const children = new Set<Service>();
function killAll() {
  for (const service of children) if (service.child.exitCode === null && service.child.signalCode === null) service.child.kill('SIGKILL');
}
process.once('exit', killAll);
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.once(signal, () => {
    killAll();
    process.exit(128 + (signal === 'SIGTERM' ? 15 : 2));
  });
}

/** Kills `service` when this test process ends, however it ends. */
export function track<T extends Service>(service: T): T {
  children.add(service);
  return service;
}

export type Stack = {
  idp: TestIdp;
  serviceApi: Service;
  solutrix?: Service;
  introspector: RegisteredClient;
  machine: RegisteredClient;
  /** Every client secret registered through this stack (for the log scan). */
  secrets: string[];
  /** Every process this stack ever ran, restarted IDPs included. */
  processes: Service[];
  /** Replaces the IDP (after a restart) and keeps its output for the log scan. */
  adopt(idp: TestIdp): void;
  stop(): Promise<void>;
};

export type StackOptions = {
  idpEnv?: Record<string, string>;
  serviceEnv?: Record<string, string>;
  /** Start Solutrix-API too (machine client; web login when `web` is set). */
  solutrix?: boolean | { web: { publicUrl?: string; env?: Record<string, string> } };
};

export async function startStack(options: StackOptions = {}): Promise<Stack> {
  const idp = track(await startIdp({ env: options.idpEnv ?? {} }));
  const processes: Service[] = [idp];
  const secrets: string[] = [];
  const register = async (name: string, scopes: string[], extra: Record<string, unknown> = {}) => {
    const client = await registerClient(idp, name, scopes, extra);
    secrets.push(client.client_secret);
    return client;
  };
  const introspector = await register('service-introspector', []);
  const machine = await register('solutrix-api', ['service.api']);
  // The Service API and Solutrix do not call anyone at start: start them side by side (a busy 2-core
  // machine takes seconds per process start).
  const servicePort = await freePort();
  const startServiceApi = startService(
    'service-api/src/main.ts',
    {
      IDP_ISSUER: idp.issuer,
      IDP_INTROSPECTION_URL: `${idp.issuer}/introspect`,
      INTROSPECTION_CLIENT_ID: introspector.client_id,
      INTROSPECTION_CLIENT_SECRET: introspector.client_secret,
      ...options.serviceEnv,
    },
    servicePort,
  );

  let startSolutrix: Promise<Service | undefined> = Promise.resolve(undefined);
  if (options.solutrix) {
    const port = await freePort();
    const env: Record<string, string> = {
      IDP_ISSUER: idp.issuer,
      IDP_TOKEN_URL: `${idp.issuer}/token`,
      IDP_CLIENT_ID: machine.client_id,
      IDP_CLIENT_SECRET: machine.client_secret,
      SERVICE_API_URL: `http://127.0.0.1:${servicePort}`,
    };
    if (typeof options.solutrix === 'object') {
      const publicUrl = options.solutrix.web.publicUrl ?? `http://127.0.0.1:${port}`;
      const web = await register('solutrix-web', ['openid', 'profile', 'email', 'offline_access', 'service.api'], {
        redirect_uris: [`${publicUrl}/callback`],
        post_logout_redirect_uris: [`${publicUrl}/`],
        grant_types: ['authorization_code', 'refresh_token'],
      });
      Object.assign(env, {
        WEB_CLIENT_ID: web.client_id,
        WEB_CLIENT_SECRET: web.client_secret,
        SOLUTRIX_PUBLIC_URL: publicUrl,
        IDP_BACKCHANNEL_URL: idp.origin,
        ...options.solutrix.web.env,
      });
    }
    startSolutrix = startService('solutrix-api/src/main.ts', env, port);
  }
  const [serviceApi, solutrix] = await Promise.all([startServiceApi.then(track), startSolutrix.then((s) => s && track(s))]);
  processes.push(serviceApi);
  if (solutrix) processes.push(solutrix);

  const stack: Stack = {
    idp,
    serviceApi,
    ...(solutrix ? { solutrix } : {}),
    introspector,
    machine,
    secrets,
    processes,
    adopt(next) {
      track(next);
      stack.idp = next;
      processes.push(next);
    },
    async stop() {
      await Promise.all(processes.map((p) => p.stop()));
    },
  };
  return stack;
}

/**
 * Returns once the line of every request `service` answered before this call is in its output: it
 * requests a path of its own and waits for that path's line. A service writes a request's line (pino,
 * synchronously) as the response is handed to the OS, so before its event loop reads a request that
 * someone sent after seeing that answer, and its output arrives in order: a count read afterwards is
 * final for everything before, and an absence is proven instead of waited for.
 */
export async function logBarrier(service: Pick<Service, 'origin' | 'output'>): Promise<void> {
  const path = `/log-barrier-${randomBytes(8).toString('hex')}`;
  await (await fetch(`${service.origin}${path}`)).arrayBuffer();
  const seen = await poll(() => service.output().includes(`"path":"${path}"`), Boolean, { timeoutMs: 10_000 });
  if (!seen) throw new Error(`${service.origin} did not log ${path} within 10 s`);
}

/** Count of the IDP's request-log lines for `POST /oauth/introspect` in `output`. */
export function introspectionCalls(output: string): number {
  let count = 0;
  for (const line of output.split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      const entry = JSON.parse(line) as { msg?: string; method?: string; path?: string };
      if (entry.msg === 'request' && entry.method === 'POST' && entry.path === '/oauth/introspect') count += 1;
    } catch {
      // not a log line
    }
  }
  return count;
}

/**
 * Asserts that no value in `needles` (secrets, tokens, passwords) appears in any of the outputs.
 * Returns a message per leak (empty when clean), naming the process and the kind of value, never the value.
 */
export function leaks(outputs: { name: string; text: string }[], needles: { kind: string; value: string }[]): string[] {
  const found: string[] = [];
  for (const { name, text } of outputs) {
    for (const { kind, value } of needles) {
      if (value.length >= 8 && text.includes(value)) found.push(`${name} printed a ${kind}`);
    }
  }
  return found;
}

export type RawResponse = { status: number; headers: Record<string, string[]>; body: string; raw: string };

/**
 * Sends bytes as they are (node:http refuses control characters and rewrites headers) over one
 * connection with `Connection: close`, and parses the answer. Bounded by `timeoutMs`.
 */
export function rawRequest(
  port: number,
  head: Buffer | string,
  body: Buffer | string = '',
  timeoutMs = 10_000,
  localAddress = '127.0.0.1',
): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const socket = connect({ port, host: '127.0.0.1', localAddress });
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error('raw request timed out'));
    }, timeoutMs);
    socket.on('data', (c) => chunks.push(c));
    socket.on('error', (err) => {
      // A server may reset after answering (e.g. body refused); keep what was received.
      if (chunks.length === 0) {
        clearTimeout(timer);
        reject(err);
      }
    });
    socket.on('close', () => {
      clearTimeout(timer);
      const raw = Buffer.concat(chunks).toString('latin1');
      const split = raw.indexOf('\r\n\r\n');
      const lines = (split === -1 ? raw : raw.slice(0, split)).split('\r\n');
      const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(lines[0] ?? '')?.[1] ?? 0);
      const headers: Record<string, string[]> = {};
      for (const line of lines.slice(1)) {
        const i = line.indexOf(':');
        if (i > 0) (headers[line.slice(0, i).toLowerCase()] ??= []).push(line.slice(i + 1).trim());
      }
      let payload = split === -1 ? '' : raw.slice(split + 4);
      if (headers['transfer-encoding']?.[0] === 'chunked') payload = dechunk(payload);
      resolve({ status, headers, body: Buffer.from(payload, 'latin1').toString('utf8'), raw });
    });
    socket.write(typeof head === 'string' ? Buffer.from(head, 'latin1') : head);
    // No half-close: node's HTTP server drops a request whose client ended its side before the answer.
    socket.write(body);
  });
}

function dechunk(text: string): string {
  let out = '';
  let i = 0;
  for (let n = 0; n < 10_000; n++) {
    const eol = text.indexOf('\r\n', i);
    if (eol === -1) break;
    const size = parseInt(text.slice(i, eol), 16);
    if (!size) break;
    out += text.slice(eol + 2, eol + 2 + size);
    i = eol + 2 + size + 2;
  }
  return out;
}

/** VmRSS of a process in MB, from /proc (Linux). */
export function rssMb(pid: number): number {
  const kb = Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]);
  return kb / 1024;
}

export type Sample = { at: number; status: number; retryAfter: string | null; label: string };

/**
 * A bounded load driver: `workers` loops, each issuing `next()`'s request until `signal` is aborted
 * or `maxRequests` were sent in total. Records every answer (status 0 = the request failed).
 */
export async function drive(
  workers: number,
  next: (i: number) => { url: string; token?: string; label: string },
  stop: { signal: AbortSignal; maxRequests: number; samples?: Sample[] },
): Promise<Sample[]> {
  const samples: Sample[] = stop.samples ?? [];
  let issued = 0;
  await Promise.all(
    Array.from({ length: workers }, async () => {
      while (!stop.signal.aborted && issued < stop.maxRequests) {
        const i = issued++;
        const { url, token, label } = next(i);
        try {
          const res = await fetch(url, { headers: token ? { authorization: `Bearer ${token}` } : {}, signal: AbortSignal.timeout(5000) });
          await res.arrayBuffer();
          samples.push({ at: Date.now(), status: res.status, retryAfter: res.headers.get('retry-after'), label });
        } catch {
          samples.push({ at: Date.now(), status: 0, retryAfter: null, label });
        }
      }
    }),
  );
  return samples;
}

/** {@link drive} for at least `minMs` and until `minSamples` answers came back, at most `maxMs`. */
export async function loadFor(
  workers: number,
  next: (i: number) => { url: string; token?: string; label: string },
  { minMs, maxMs, minSamples }: { minMs: number; maxMs: number; minSamples: number },
): Promise<Sample[]> {
  const stop = new AbortController();
  const samples: Sample[] = [];
  const started = Date.now();
  const load = drive(workers, next, { signal: stop.signal, maxRequests: 100_000, samples });
  await poll(() => Date.now() - started >= minMs && samples.length >= minSamples, Boolean, { timeoutMs: maxMs, intervalMs: 100 });
  stop.abort();
  return load;
}

/** `{ label: { status: count } }` */
export function tally(samples: Sample[]): Record<string, Record<number, number>> {
  const out: Record<string, Record<number, number>> = {};
  for (const s of samples) {
    const byStatus = (out[s.label] ??= {});
    byStatus[s.status] = (byStatus[s.status] ?? 0) + 1;
  }
  return out;
}

/**
 * The authorization code flow (PKCE) as a browser would run it against the IDP's real login page,
 * without following the final redirect to the client. Returns the token response and every hop's headers.
 */
export async function codeFlow(
  idp: Pick<TestIdp, 'issuer' | 'origin'>,
  client: RegisteredClient,
  redirectUri: string,
  user: { username: string; password: string },
  scope = 'openid service.api',
  /** More authorization request parameters, e.g. `{ prompt: 'consent' }`: oidc-provider issues a refresh token (offline_access) only after a consent prompt, as Solutrix asks. */
  authParams: Record<string, string> = {},
): Promise<{ tokens: Record<string, unknown>; loginPage: { headers: Headers; body: string }; setCookies: string[] }> {
  const { TestBrowser } = await import('../../solutrix-api/test/web/browser.ts');
  const { createHash, randomBytes } = await import('node:crypto');
  const browser = new TestBrowser();
  const verifier = randomBytes(32).toString('base64url');
  const challenge = createHash('sha256').update(verifier).digest('base64url');
  const auth = new URL(`${idp.issuer}/auth`);
  auth.search = new URLSearchParams({
    client_id: client.client_id,
    response_type: 'code',
    redirect_uri: redirectUri,
    scope,
    state: randomBytes(8).toString('hex'),
    code_challenge: challenge,
    code_challenge_method: 'S256',
    ...authParams,
  }).toString();
  const setCookies: string[] = [];
  const toLogin = await browser.follow(auth.href);
  for (const hop of toLogin.hops) setCookies.push(...hop.headers.getSetCookie());
  const page = toLogin.last;
  if (page.status !== 200 || !page.body.includes('id="username"')) throw new Error(`no login page: ${page.status} ${page.body.slice(0, 300)}`);
  const action = /<form method="post" action="([^"]+\/login)"/.exec(page.body)![1]!;
  let hop = await browser.request(new URL(action, page.url).href, { form: user, headers: { origin: new URL(page.url).origin } });
  for (let i = 0; i < 10 && hop.status >= 300 && hop.status < 400; i++) {
    setCookies.push(...hop.headers.getSetCookie());
    const location = new URL(hop.headers.get('location')!, hop.url);
    if (location.href.startsWith(redirectUri)) {
      const code = location.searchParams.get('code');
      if (!code) throw new Error(`no code: ${location.search}`);
      const res = await fetch(`${idp.issuer}/token`, {
        method: 'POST',
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          authorization: `Basic ${Buffer.from(`${client.client_id}:${client.client_secret}`).toString('base64')}`,
        },
        body: new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: redirectUri, code_verifier: verifier }),
      });
      const tokens = (await res.json()) as Record<string, unknown>;
      if (res.status !== 200) throw new Error(`code exchange: ${res.status} ${JSON.stringify(tokens)}`);
      return { tokens, loginPage: { headers: page.headers, body: page.body }, setCookies };
    }
    hop = await browser.request(location.href);
  }
  throw new Error(`the flow did not reach the redirect URI: ${hop.status} ${hop.body.slice(0, 300)}`);
}
