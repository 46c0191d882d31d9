import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { basic } from '../../lib/http.ts';
import { freePort, startService, type Service } from './process.ts';

export type TestIdp = Service & {
  issuer: string;
  adminToken: string;
  dataDir: string;
  env: Record<string, string>;
  /** Stops the process (SIGTERM unless told) and starts it again on the same port and data dir. */
  restart(signal?: NodeJS.Signals): Promise<TestIdp>;
};

/** The stack's own Service API as the seed file declares it: scope `service.api`, the IDP's default format. */
export const SERVICE_API = 'http://localhost:4001';

/**
 * A real IDP process on a free port with a fresh data dir (unless given one). The issuer is
 * `http://127.0.0.1:<port>/oauth` unless given: replicas share one issuer (any replica's URL) and
 * answer every request as that issuer, whichever port it reached.
 *
 * Unless told otherwise (`serviceApi: false`, or a data dir of an earlier run), the Service API's
 * resource server (SERVICE_API_AUDIENCE, scope `service.api`) is declared as the seed would, and
 * `service-introspector` may introspect every token through the deprecated IDP_INTROSPECTORS alias,
 * as these suites were written before introspectors were per resource server (set
 * `IDP_INTROSPECTORS: ''` to test the per-client policy).
 */
export async function startIdp(
  options: { dataDir?: string; env?: Record<string, string>; port?: number; issuer?: string; serviceApi?: boolean } = {},
): Promise<TestIdp> {
  const dataDir = options.dataDir ?? mkdtempSync(join(tmpdir(), 'idp-test-'));
  const env = { IDP_DATA_DIR: dataDir, IDP_ADMIN_TOKEN: randomBytes(24).toString('base64url'), IDP_INTROSPECTORS: 'service-introspector', ...options.env };
  const port = options.port ?? (await freePort());
  const issuer = options.issuer ?? options.env?.IDP_ISSUER ?? `http://127.0.0.1:${port}/oauth`;
  const service = await startService('idp/src/main.ts', { ...env, IDP_ISSUER: issuer }, port);
  const idp: TestIdp = {
    ...service,
    issuer,
    adminToken: env.IDP_ADMIN_TOKEN,
    dataDir,
    env,
    async restart(signal) {
      await service.stop(signal);
      return startIdp({ dataDir, env, port: service.port, issuer });
    },
  };
  // Without a configured admin token (a generated one) there is nothing to declare it with.
  if ((options.serviceApi ?? options.dataDir === undefined) && env.IDP_ADMIN_TOKEN) {
    await declareResourceServer(idp, { identifier: (env as Record<string, string>).SERVICE_API_AUDIENCE || SERVICE_API, scopes: ['service.api'] });
  }
  return idp;
}

/** PUT (create or replace) a resource server; replicas starting together may race: the loser retries. */
export async function declareResourceServer(idp: Pick<TestIdp, 'origin' | 'adminToken'>, server: { identifier: string; [key: string]: unknown }) {
  const put = () => adminRequest(idp, 'PUT', `/resource-servers/${encodeURIComponent(server.identifier)}`, server);
  let res = await put();
  if (res.status === 409) res = await put();
  if (res.status !== 200 && res.status !== 201) throw new Error(`declaring ${server.identifier}: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body as Record<string, unknown>;
}

export type RegisteredClient = { client_id: string; client_secret: string; [key: string]: unknown };

export async function adminRequest(idp: Pick<TestIdp, 'origin' | 'adminToken'>, method: string, path: string, body?: unknown) {
  const res = await fetch(`${idp.origin}/api/global/admin${path}`, {
    method,
    headers: { authorization: `Bearer ${idp.adminToken}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: text ? JSON.parse(text) : undefined };
}

export async function registerClient(
  idp: Pick<TestIdp, 'origin' | 'adminToken'>,
  name: string,
  scopes: string[] = [],
  extra: Record<string, unknown> = {},
): Promise<RegisteredClient> {
  const res = await adminRequest(idp, 'POST', '/clients', { name, redirect_uris: [], grant_types: ['client_credentials'], scopes, ...extra });
  if (res.status !== 201) throw new Error(`registering ${name}: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body as RegisteredClient;
}

export { basic };

/** POSTs a form to an IDP endpoint as the given client (HTTP Basic). */
export async function postForm(url: string, client: RegisteredClient | undefined, form: Record<string, string>) {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...(client ? { authorization: basic(client.client_id, client.client_secret) } : {}) },
    body: new URLSearchParams(form),
  });
  return { status: res.status, headers: res.headers, body: (await res.json()) as Record<string, unknown> };
}

export async function clientCredentialsToken(idp: Pick<TestIdp, 'issuer'>, client: RegisteredClient, scope?: string): Promise<string> {
  const res = await postForm(`${idp.issuer}/token`, client, { grant_type: 'client_credentials', ...(scope ? { scope } : {}) });
  if (res.status !== 200) throw new Error(`token for ${client.client_id}: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body.access_token as string;
}
