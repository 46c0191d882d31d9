// The real stack for the integration suite: IDP, seed, Service API and (optionally) Solutrix-API as
// processes. The access-token format comes from ACCESS_TOKEN_FORMAT (scripts/test.ts runs the suite
// once per format).
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { postForm, startIdp, type RegisteredClient, type TestIdp } from '../support/idp.ts';
import { startService, type Service } from '../support/process.ts';
import { DEFAULT_SEED_FILE, secretFile, seed } from '../../scripts/seed.ts';

export type TokenFormat = 'opaque' | 'jwt';
export const MODE: TokenFormat = process.env.ACCESS_TOKEN_FORMAT === 'jwt' ? 'jwt' : 'opaque';
export const AUDIENCE = 'http://localhost:4001';

export async function startSeededIdp(
  mode: TokenFormat = MODE,
  extraEnv: Record<string, string> = {},
): Promise<{ idp: TestIdp; credentialsDir: string; client: (id: string) => RegisteredClient }> {
  // The seed file declares the Service API's resource server and its introspector: no deprecated
  // IDP_INTROSPECTORS, the per-client introspection policy is the one under test.
  const idp = await startIdp({ env: { ACCESS_TOKEN_FORMAT: mode, SERVICE_API_AUDIENCE: AUDIENCE, IDP_INTROSPECTORS: '', ...extraEnv }, serviceApi: false });
  const credentialsDir = mkdtempSync(join(tmpdir(), 'integration-credentials-'));
  await seed({
    idpBase: idp.origin,
    adminToken: idp.adminToken,
    credentialsDir,
    file: DEFAULT_SEED_FILE,
    env: { SERVICE_API_AUDIENCE: AUDIENCE, SOLUTRIX_PUBLIC_URL: 'http://127.0.0.1:9' },
    log: () => {},
  });
  const client = (id: string) => ({ client_id: id, client_secret: readFileSync(secretFile(credentialsDir, id), 'utf8').trim() });
  return { idp, credentialsDir, client };
}

export function serviceApiEnv(idp: TestIdp, credentialsDir: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    TOKEN_VERIFICATION: 'auto',
    IDP_ISSUER: idp.issuer,
    IDP_INTROSPECTION_URL: `${idp.issuer}/introspect`,
    INTROSPECTION_CLIENT_ID: 'service-introspector',
    INTROSPECTION_CLIENT_SECRET_FILE: secretFile(credentialsDir, 'service-introspector'),
    SERVICE_API_AUDIENCE: AUDIENCE,
    ...extra,
  };
}

/** Solutrix-API's env; in jwt mode it asks for its token with the Service API as resource (RFC 8707). */
export function solutrixEnv(idp: TestIdp, credentialsDir: string, serviceApiUrl: string, mode: TokenFormat = MODE): Record<string, string> {
  return {
    IDP_ISSUER: idp.issuer,
    IDP_TOKEN_URL: `${idp.issuer}/token`,
    IDP_CLIENT_ID: 'solutrix-api',
    IDP_CLIENT_SECRET_FILE: secretFile(credentialsDir, 'solutrix-api'),
    SERVICE_API_URL: serviceApiUrl,
    ...(mode === 'jwt' ? { SERVICE_API_RESOURCE: AUDIENCE } : {}),
  };
}

export const startServiceApi = (env: Record<string, string>): Promise<Service> => startService('service-api/src/main.ts', env);
export const startSolutrix = (env: Record<string, string>): Promise<Service> => startService('solutrix-api/src/main.ts', env);

/** Request lines a service logged so far (pino JSON, one per request), filtered by method and path. */
export function requestLines(service: Pick<Service, 'output'>, method: string, path: string): { status: number }[] {
  return service
    .output()
    .split('\n')
    .flatMap((line) => {
      try {
        const entry = JSON.parse(line) as { msg?: string; method?: string; path?: string; status?: number };
        return entry.msg === 'request' && entry.method === method && entry.path === path ? [{ status: entry.status ?? 0 }] : [];
      } catch {
        return [];
      }
    });
}

export async function token(idp: Pick<TestIdp, 'issuer'>, client: RegisteredClient, form: Record<string, string> = {}): Promise<string> {
  const res = await postForm(`${idp.issuer}/token`, client, { grant_type: 'client_credentials', ...form });
  if (res.status !== 200) throw new Error(`token for ${client.client_id}: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body.access_token as string;
}

export async function get(url: string, token?: string) {
  const res = await fetch(url, { headers: token === undefined ? {} : { authorization: `Bearer ${token}` } });
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: (text ? JSON.parse(text) : undefined) as Record<string, unknown> };
}

