// A real IDP process plus the Solutrix app (on a known free port, since the IDP must know its
// redirect URI first) with a stub Service API that records the bearer tokens it receives.
import { createServer, type Server } from 'node:http';
import { pino } from 'pino';
import { adminRequest, startIdp, type TestIdp } from '../../../test/support/idp.ts';
import { freePort } from '../../../test/support/process.ts';
import { close, listen } from '../../../lib/server.ts';
import { createApp } from '../../src/app.ts';
import { loadConfig } from '../../src/config.ts';
import type { ServiceTokenClient } from '../../src/security/serviceToken.ts';
import { createWebIdp } from '../../src/web/idpClient.ts';
import { LruSessionStore } from '../../src/web/sessionStore.ts';
import { createUserTokens, type UserTokens } from '../../src/web/userTokens.ts';
import { startStub, type Stub, type StubResponse } from '../helpers/stubs.ts';

export const WEB_SCOPES = ['openid', 'profile', 'email', 'offline_access', 'service.api'];

export interface WebFixture {
  idp: TestIdp;
  solutrix: string;
  serviceApi: Stub;
  webSecret: string;
  /** Bearer tokens the Service API stub received on /v1/whoami, in order. */
  bearers(): string[];
  /** Overrides the stub's answer (default: 200 whoami of a user). */
  answer: (token: string | undefined) => StubResponse;
  userTokens: UserTokens;
  /** The app's store of signed-in sessions. */
  sessions: LruSessionStore;
  /** Moves the app's clock (not the IDP's) forward. */
  advanceClock(ms: number): void;
  createUser(username: string, password: string): Promise<string>;
  close(): Promise<void>;
}

export const defaultAnswer = (token: string | undefined): StubResponse =>
  token === undefined
    ? { status: 401, json: { error: 'invalid_request' }, headers: { 'www-authenticate': 'Bearer realm="service-api"' } }
    : { status: 200, json: { subject: 'stub-subject', clientId: 'solutrix-web', scopes: ['openid', 'service.api'], kind: 'user', expiresAt: 0 } };

/** `env` adds to or overrides Solutrix's environment (e.g. `SESSION_MAX`). */
export async function startWebFixture(env: Record<string, string> = {}): Promise<WebFixture> {
  const idp = await startIdp();
  const port = await freePort();
  const solutrix = `http://127.0.0.1:${port}`;
  const registered = await adminRequest(idp, 'POST', '/clients', {
    name: 'solutrix-web',
    redirect_uris: [`${solutrix}/callback`],
    post_logout_redirect_uris: [`${solutrix}/`],
    grant_types: ['authorization_code', 'refresh_token'],
    scopes: WEB_SCOPES,
  });
  if (registered.status !== 201) throw new Error(`registering solutrix-web: ${registered.status} ${JSON.stringify(registered.body)}`);
  const webSecret = registered.body.client_secret as string;

  const fixture = { answer: defaultAnswer } as WebFixture;
  const serviceApi = await startStub((req) => fixture.answer(/^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1]));
  let skew = 0;
  const now = () => Date.now() + skew;
  const config = loadConfig({
    PORT: String(port),
    IDP_ISSUER: idp.issuer,
    IDP_CLIENT_SECRET: 'unused-machine-secret',
    SERVICE_API_URL: serviceApi.url,
    WEB_CLIENT_SECRET: webSecret,
    SOLUTRIX_PUBLIC_URL: solutrix,
    SESSION_SECRET: 'a-test-session-secret-of-enough-length',
    ...env,
  });
  const webIdp = createWebIdp(config.web!);
  const userTokens = createUserTokens(webIdp, now);
  const web = config.web!;
  const sessions = new LruSessionStore({ max: web.maxSessions, idleTimeoutMs: web.sessionIdleTimeoutSeconds * 1000, now });
  const machineToken: ServiceTokenClient = { getToken: async () => 'machine-token', invalidate() {}, stats: { tokenRequests: 0, cacheHits: 0, failures: { unavailable: 0, rejected: 0, invalid_response: 0 } } };
  const server: Server = createServer(
    createApp(config, { log: pino({ level: 'silent' }), serviceToken: machineToken, web: { now, idp: webIdp, userTokens, sessionStore: sessions } }),
  );
  await listen(server, port, '127.0.0.1');

  return Object.assign(fixture, {
    idp,
    solutrix,
    serviceApi,
    webSecret,
    userTokens,
    sessions,
    bearers: () => serviceApi.requests.filter((r) => r.path === '/v1/whoami').map((r) => /^Bearer (.+)$/.exec(r.headers.authorization ?? '')?.[1] ?? ''),
    advanceClock: (ms: number) => void (skew += ms),
    async createUser(username: string, password: string) {
      const res = await adminRequest(idp, 'POST', '/users', { username, password, name: `${username} Example`, email: `${username}@example.test` });
      if (res.status !== 201) throw new Error(`creating ${username}: ${res.status} ${JSON.stringify(res.body)}`);
      return (res.body as { sub: string }).sub;
    },
    async close() {
      server.closeAllConnections();
      await close(server);
      await serviceApi.close();
      await fixture.idp.stop();
    },
  });
}

/** Introspects a token as solutrix-web (a client may introspect its own tokens). */
export async function introspect(fixture: WebFixture, token: string): Promise<Record<string, unknown>> {
  const res = await fetch(`${fixture.idp.issuer}/introspect`, {
    method: 'POST',
    headers: {
      authorization: `Basic ${Buffer.from(`solutrix-web:${encodeURIComponent(fixture.webSecret)}`).toString('base64')}`,
      'content-type': 'application/x-www-form-urlencoded',
    },
    body: new URLSearchParams({ token }),
  });
  return (await res.json()) as Record<string, unknown>;
}
