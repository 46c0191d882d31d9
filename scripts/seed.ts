// Registers the stack's clients (and demo users) through the IDP's admin API. Idempotent: an existing
// client whose stored secret still authenticates is left alone; one whose secret is lost or wrong is
// rotated; one whose metadata changed is registered again. Secrets go to owner-only files, never to
// the terminal.
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ConfigError, Env, loadOrExit } from '../lib/env.ts';
import { basic } from '../lib/http.ts';

export type ClientSpec = {
  name: string;
  redirect_uris: string[];
  post_logout_redirect_uris?: string[];
  grant_types: string[];
  scopes: string[];
};

export type DemoUser = { username: string; password: string; name: string; email: string };

export type SeedOptions = {
  idpBase: string;
  adminToken: string;
  credentialsDir: string;
  solutrixUrl: string;
  /** Demo users; their passwords are for local development only. */
  users: DemoUser[];
  log?: (line: string) => void;
};

export function stackClients(solutrixUrl: string): ClientSpec[] {
  return [
    { name: 'service-introspector', redirect_uris: [], grant_types: ['client_credentials'], scopes: [] },
    { name: 'solutrix-api', redirect_uris: [], grant_types: ['client_credentials'], scopes: ['service.api'] },
    {
      name: 'solutrix-web',
      redirect_uris: [`${solutrixUrl}/callback`],
      post_logout_redirect_uris: [`${solutrixUrl}/`],
      grant_types: ['authorization_code', 'refresh_token'],
      scopes: ['openid', 'profile', 'email', 'offline_access', 'service.api'],
    },
  ];
}

/** Where the seed writes a client's secret (and where the services read it, via *_SECRET_FILE). */
export const secretFile = (credentialsDir: string, clientId: string) => join(credentialsDir, `${clientId}.secret`);

type Outcome = 'created' | 'unchanged' | 'rotated' | 're-registered';

export async function seed(options: SeedOptions): Promise<Record<string, Outcome>> {
  const log = options.log ?? ((line) => console.log(line));
  const admin = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(`${options.idpBase}/api/global/admin${path}`, {
      method,
      headers: { authorization: `Bearer ${options.adminToken}`, ...(body ? { 'content-type': 'application/json' } : {}) },
      body: body ? JSON.stringify(body) : undefined,
      signal: AbortSignal.timeout(10_000),
    });
    const text = await res.text();
    const json = text ? (JSON.parse(text) as Record<string, unknown>) : {};
    if (res.status === 401) throw new Error('the IDP rejected the admin token (IDP_ADMIN_TOKEN / IDP_ADMIN_TOKEN_FILE)');
    return { status: res.status, body: json };
  };
  const fail: (what: string, res: { status: number; body: Record<string, unknown> }) => never = (what, res) => {
    throw new Error(`${what}: HTTP ${res.status} ${res.body.error ?? ''} ${res.body.error_description ?? ''}`.trim());
  };

  // A confidential client authenticates at the introspection endpoint whatever its grant types.
  const authenticates = async (clientId: string, secret: string) => {
    const res = await fetch(`${options.idpBase}/oauth/introspect`, {
      method: 'POST',
      headers: {
        authorization: basic(clientId, secret),
        'content-type': 'application/x-www-form-urlencoded',
      },
      body: new URLSearchParams({ token: 'seed-probe' }),
      signal: AbortSignal.timeout(10_000),
    });
    return res.status === 200;
  };

  mkdirSync(options.credentialsDir, { recursive: true, mode: 0o700 });
  const writeSecret = (clientId: string, secret: string) => {
    const file = secretFile(options.credentialsDir, clientId);
    writeFileSync(file, `${secret}\n`, { mode: 0o600 });
    chmodSync(file, 0o600);
  };
  const readSecret = (clientId: string) => {
    try {
      return readFileSync(secretFile(options.credentialsDir, clientId), 'utf8').trim();
    } catch {
      return undefined;
    }
  };

  const outcomes: Record<string, Outcome> = {};
  for (const spec of stackClients(options.solutrixUrl)) {
    const existing = await admin('GET', `/clients/${encodeURIComponent(spec.name)}`);
    let outcome: Outcome;
    if (existing.status === 404) {
      const created = await admin('POST', '/clients', spec);
      if (created.status !== 201) fail(`registering ${spec.name}`, created);
      writeSecret(spec.name, created.body.client_secret as string);
      outcome = 'created';
    } else if (existing.status !== 200) {
      fail(`looking up ${spec.name}`, existing);
    } else if (!sameMetadata(spec, existing.body)) {
      const removed = await admin('DELETE', `/clients/${encodeURIComponent(spec.name)}`);
      if (removed.status !== 204) fail(`removing outdated ${spec.name}`, removed);
      const created = await admin('POST', '/clients', spec);
      if (created.status !== 201) fail(`registering ${spec.name}`, created);
      writeSecret(spec.name, created.body.client_secret as string);
      outcome = 're-registered';
    } else {
      const secret = readSecret(spec.name);
      if (secret && (await authenticates(spec.name, secret))) {
        outcome = 'unchanged';
      } else {
        const rotated = await admin('POST', `/clients/${encodeURIComponent(spec.name)}/secret`);
        if (rotated.status !== 200) fail(`rotating ${spec.name}`, rotated);
        writeSecret(spec.name, rotated.body.client_secret as string);
        outcome = 'rotated';
      }
    }
    outcomes[spec.name] = outcome;
    log(`seed: client ${spec.name.padEnd(22)} ${outcome.padEnd(14)} secret in ${secretFile(options.credentialsDir, spec.name)}`);
  }
  for (const user of options.users) {
    const created = await admin('POST', '/users', user);
    if (created.status !== 201 && created.status !== 409) fail(`creating user ${user.username}`, created);
    log(`seed: user   ${user.username.padEnd(22)} ${created.status === 201 ? 'created' : 'unchanged'}`);
  }
  return outcomes;
}

function sameMetadata(spec: ClientSpec, stored: Record<string, unknown>): boolean {
  const same = (a: unknown, b: unknown[]) => Array.isArray(a) && a.length === b.length && [...b].sort().every((v, i) => [...a].sort()[i] === v);
  return (
    same(stored.redirect_uris, spec.redirect_uris) &&
    same(stored.post_logout_redirect_uris, spec.post_logout_redirect_uris ?? []) &&
    same(stored.grant_types, spec.grant_types) &&
    same(stored.scopes, spec.scopes.length ? spec.scopes : ['openid'])
  );
}

export function seedOptionsFromEnv(source: NodeJS.ProcessEnv): SeedOptions {
  const env = new Env(source);
  const dataDir = env.string('IDP_DATA_DIR', './.data/idp');
  const adminToken = env.bearerSecret('IDP_ADMIN_TOKEN') ?? readFileIfPresent(join(dataDir, 'admin-token'));
  if (!adminToken) throw new ConfigError('IDP_ADMIN_TOKEN', `IDP_ADMIN_TOKEN or IDP_ADMIN_TOKEN_FILE must be set (or ${join(dataDir, 'admin-token')} exist)`);
  return {
    idpBase: env.url('IDP_BASE', 'http://localhost:4000').origin,
    adminToken,
    credentialsDir: resolve(env.string('SEED_CREDENTIALS_DIR', './.data/credentials')),
    solutrixUrl: env.url('SOLUTRIX_PUBLIC_URL', `http://localhost:${env.port('SOLUTRIX_PORT', 3000)}`).origin,
    users: [
      { username: 'alice', password: env.string('SEED_ALICE_PASSWORD', 'alice-local-only'), name: 'Alice Example', email: 'alice@example.test' },
      { username: 'bob', password: env.string('SEED_BOB_PASSWORD', 'bob-local-only'), name: 'Bob Example', email: 'bob@example.test' },
    ],
  };
}

function readFileIfPresent(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8').trim() || undefined;
  } catch {
    return undefined;
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  seed(loadOrExit('seed', () => seedOptionsFromEnv(process.env))).catch((err: Error) => {
    console.error(`seed failed: ${err.message}`);
    process.exit(1);
  });
}
