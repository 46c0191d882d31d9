import { request } from 'node:http';
import { basic, type RegisteredClient, type TestIdp } from '../../test/support/idp.ts';

export const ADMIN = '/api/global/admin';

/** Any request to the IDP; the body is parsed as JSON when there is one. */
export async function call(
  url: string,
  init: { method?: string; headers?: Record<string, string>; body?: string | URLSearchParams } = {},
): Promise<{ status: number; headers: Headers; text: string; body: any }> {
  const res = await fetch(url, { method: init.method ?? 'GET', headers: init.headers, body: init.body });
  const text = await res.text();
  let body: unknown;
  try {
    body = text ? JSON.parse(text) : undefined;
  } catch {
    body = undefined;
  }
  return { status: res.status, headers: res.headers, text, body };
}

/** An admin API request with full control over headers and the raw body text. */
export function admin(idp: Pick<TestIdp, 'origin'>, path: string, init: { method?: string; headers?: Record<string, string>; body?: string } = {}) {
  return call(`${idp.origin}${ADMIN}${path}`, init);
}

/**
 * The client secrets an admin test file saw, so it can check at the end that none reached the IDP's
 * output; `post` registers a client through the admin API and remembers its secret.
 */
export function secretRecorder(idp: () => Pick<TestIdp, 'origin' | 'adminToken'>) {
  const secrets: string[] = [];
  const remember = <T extends { client_secret?: unknown }>(body: T): T => {
    if (typeof body?.client_secret === 'string') secrets.push(body.client_secret);
    return body;
  };
  const post = async (body: unknown) => {
    const res = await admin(idp(), '/clients', { method: 'POST', headers: json(idp().adminToken), body: JSON.stringify(body) });
    remember(res.body ?? {});
    return res;
  };
  return { secrets, remember, post };
}

export const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
export const json = (token: string) => ({ ...bearer(token), 'content-type': 'application/json' });

/** POST a form to an OAuth endpoint as `client` (HTTP Basic), or unauthenticated. */
export function oauth(idp: Pick<TestIdp, 'issuer'>, endpoint: string, client: Pick<RegisteredClient, 'client_id' | 'client_secret'> | undefined, form: Record<string, string>) {
  return call(`${idp.issuer}${endpoint}`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...(client ? { authorization: basic(client.client_id, client.client_secret) } : {}) },
    body: new URLSearchParams(form),
  });
}

export const introspect = (idp: Pick<TestIdp, 'issuer'>, caller: Pick<RegisteredClient, 'client_id' | 'client_secret'> | undefined, token: string) =>
  oauth(idp, '/introspect', caller, { token });

/** GET with an explicit Host header (fetch silently drops one, so node:http). */
export function getWithHost(url: string, host: string): Promise<{ status: number; body: any }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { headers: { host } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk) => (text += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** The fields of an introspection answer that change from run to run, checked and replaced. */
export function stableIntrospection(body: Record<string, unknown>) {
  const { exp, iat, ...rest } = body;
  if (typeof exp !== 'number' || typeof iat !== 'number' || !(exp > iat)) throw new Error(`exp/iat: ${JSON.stringify(body)}`);
  return { ...rest, exp: 'number', iat: 'number' };
}

type OpenApiDocument = { paths: Record<string, Record<string, { responses?: Record<string, unknown> }>> };

/**
 * The admin answers in an IDP's request log on paths the OpenAPI document describes (`checked`), and
 * those whose status it does not declare for their operation, as `METHOD /path → status`. A wrong
 * method counts against the statuses declared on its path; other paths are left to the 404 tests.
 */
export function undeclaredAdminStatuses(output: string, doc: OpenApiDocument): { checked: number; undeclared: string[] } {
  const templates = Object.keys(doc.paths).map((template) => ({
    template,
    pattern: new RegExp(`^${template.split(/\{[^}]+\}/).map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('[^/]+')}$`),
  }));
  const undeclared = new Set<string>();
  let checked = 0;
  for (const line of output.split('\n')) {
    let entry: { msg?: unknown; method?: unknown; path?: unknown; status?: unknown };
    try {
      entry = JSON.parse(line);
    } catch {
      continue;
    }
    if (entry.msg !== 'request' || typeof entry.path !== 'string' || typeof entry.method !== 'string' || !entry.path.startsWith(`${ADMIN}/`)) continue;
    const path = entry.path.slice(ADMIN.length);
    const found = templates.find(({ pattern }) => pattern.test(path));
    if (!found) continue;
    checked += 1;
    const item = doc.paths[found.template]!;
    const operation = item[entry.method === 'HEAD' ? 'get' : entry.method.toLowerCase()];
    const declared = operation ? Object.keys(operation.responses ?? {}) : Object.values(item).flatMap((op) => Object.keys(op.responses ?? {}));
    if (!declared.includes(String(entry.status))) undeclared.add(`${entry.method} ${found.template} → ${entry.status}`);
  }
  return { checked, undeclared: [...undeclared] };
}
