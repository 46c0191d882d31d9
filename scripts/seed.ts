// `npm run seed [-- --prune]`: applies the seed file (SEED_FILE, default scripts/seed.json) to the IDP
// through its admin API. Idempotent: what is missing is created, what changed is updated in place
// (a client keeps its secret), a client whose secret file is lost or no longer authenticates gets a
// new secret; everything else is left alone. Secrets go to owner-only files, never to the terminal.
// Objects the seed creates are marked `managed_by: "seed"`; --prune deletes those the file no longer
// lists, never what was created by hand. The whole file, and its references to what the IDP already
// has, are checked before the first write.
import { chmodSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { ConfigError, Env, loadOrExit } from '../lib/env.ts';
import { basic } from '../lib/http.ts';
import { checkReferences, OIDC_SCOPES, parseSeedFile, SeedFileError, type SeedClient } from './seedFile.ts';

export { SeedFileError } from './seedFile.ts';

export const DEFAULT_SEED_FILE = fileURLToPath(new URL('./seed.json', import.meta.url));
const MANAGED_BY = 'seed';

export type SeedOptions = {
  idpBase: string;
  adminToken: string;
  credentialsDir: string;
  /** The seed file (SEED_FILE). */
  file: string;
  /** For ${VAR} in the file and SEED_<USERNAME>_PASSWORD. */
  env: NodeJS.ProcessEnv;
  /** Also delete the seed-created clients and resource servers the file no longer lists. */
  prune?: boolean;
  log?: (line: string) => void;
};

export type Outcome = 'created' | 'unchanged' | 'updated' | 'rotated' | 'updated, rotated' | 'pruned';
export type SeedResult = { resourceServers: Record<string, Outcome>; clients: Record<string, Outcome>; users: Record<string, Outcome> };

/** Where the seed writes a client's secret (and where the services read it, via *_SECRET_FILE). */
export const secretFile = (credentialsDir: string, clientId: string) => join(credentialsDir, `${clientId}.secret`);

type StoredServer = { identifier: string; scopes: string[]; access_token_format: string | null; access_token_ttl: number | null; managed_by: string | null };
type StoredClient = Omit<SeedClient, 'name'> & { client_id: string; managed_by: string | null };

export async function seed(options: SeedOptions): Promise<SeedResult> {
  const log = options.log ?? ((line) => console.log(line));
  const { declaration, problems: fileProblems } = parseSeedFile(options.file, options.env);
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
  const expect = async (what: string, statuses: number[], request: Promise<{ status: number; body: Record<string, unknown> }>) => {
    const res = await request;
    if (!statuses.includes(res.status)) throw new Error(`${what}: HTTP ${res.status} ${res.body.error ?? ''} ${res.body.error_description ?? ''}`.trim());
    return res.body;
  };

  // The IDP's current state, read before any write.
  const servers = (await expect('listing resource servers', [200], admin('GET', '/resource-servers'))).resource_servers as StoredServer[];
  const clients = (await expect('listing clients', [200], admin('GET', '/clients'))).clients as StoredClient[];
  const inFile = new Set(declaration.resource_servers.map((s) => s.identifier));
  const clientsInFile = new Set(declaration.clients.map((c) => c.name));
  const pruneServers = options.prune ? servers.filter((s) => s.managed_by === MANAGED_BY && !inFile.has(s.identifier)) : [];
  const pruneClients = options.prune ? clients.filter((c) => c.managed_by === MANAGED_BY && !clientsInFile.has(c.client_id)) : [];
  // Scopes of the resource servers that stay at the IDP beside the file's: clients may use them.
  const elsewhere = new Map<string, string>();
  for (const server of servers) {
    if (inFile.has(server.identifier) || pruneServers.includes(server)) continue;
    for (const scope of server.scopes) elsewhere.set(scope, server.identifier);
  }
  const problems = [...fileProblems, ...checkReferences(declaration, elsewhere)];
  if (problems.length) throw new SeedFileError(options.file, problems);

  const result: SeedResult = { resourceServers: {}, clients: {}, users: {} };
  const path = (id: string) => encodeURIComponent(id);

  for (const declared of declaration.resource_servers) {
    const body = { identifier: declared.identifier, scopes: declared.scopes, access_token_format: declared.access_token_format ?? null, access_token_ttl: declared.access_token_ttl ?? null, managed_by: MANAGED_BY };
    const existing = servers.find((s) => s.identifier === declared.identifier);
    let outcome: Outcome = 'unchanged';
    if (!existing || !sameServer(existing, body)) {
      await expect(`declaring resource server ${declared.identifier}`, [200, 201], admin('PUT', `/resource-servers/${path(declared.identifier)}`, body));
      outcome = existing ? 'updated' : 'created';
    }
    result.resourceServers[declared.identifier] = outcome;
    log(`seed: resource server ${declared.identifier.padEnd(28)} ${outcome}`);
  }

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

  for (const declared of declaration.clients) {
    const body = { ...declared, managed_by: MANAGED_BY };
    const existing = clients.find((c) => c.client_id === declared.name);
    let outcome: Outcome;
    if (!existing) {
      const created = await expect(`registering client ${declared.name}`, [201], admin('POST', '/clients', body));
      writeSecret(declared.name, created.client_secret as string);
      outcome = 'created';
    } else {
      const changed = !sameClient(existing, body);
      if (changed) await expect(`updating client ${declared.name}`, [200], admin('PUT', `/clients/${path(declared.name)}`, body));
      const secret = readSecret(declared.name);
      if (secret && (await authenticates(options.idpBase, declared.name, secret))) {
        outcome = changed ? 'updated' : 'unchanged';
      } else {
        const rotated = await expect(`rotating the secret of ${declared.name}`, [200], admin('POST', `/clients/${path(declared.name)}/secret`));
        writeSecret(declared.name, rotated.client_secret as string);
        outcome = changed ? 'updated, rotated' : 'rotated';
      }
    }
    result.clients[declared.name] = outcome;
    log(`seed: client ${declared.name.padEnd(22)} ${outcome.padEnd(16)} secret in ${secretFile(options.credentialsDir, declared.name)}`);
  }

  for (const user of declaration.users) {
    const created = await expect(`creating user ${user.username}`, [201, 409], admin('POST', '/users', user));
    const outcome: Outcome = created.error ? 'unchanged' : 'created';
    result.users[user.username] = outcome;
    log(`seed: user   ${user.username.padEnd(22)} ${outcome}`);
  }

  // Clients first: they may refer to a resource server pruned next.
  for (const client of pruneClients) {
    const id = client.client_id;
    await expect(`pruning client ${id}`, [204, 404], admin('DELETE', `/clients/${path(id)}`));
    rmSync(secretFile(options.credentialsDir, id), { force: true });
    result.clients[id] = 'pruned';
    log(`seed: client ${id.padEnd(22)} pruned`);
  }
  for (const server of pruneServers) {
    await expect(`pruning resource server ${server.identifier}`, [204, 404], admin('DELETE', `/resource-servers/${path(server.identifier)}`));
    result.resourceServers[server.identifier] = 'pruned';
    log(`seed: resource server ${server.identifier.padEnd(28)} pruned`);
  }
  return result;
}

// A confidential client authenticates at the introspection endpoint whatever its grant types.
async function authenticates(idpBase: string, clientId: string, secret: string): Promise<boolean> {
  const res = await fetch(`${idpBase}/oauth/introspect`, {
    method: 'POST',
    headers: { authorization: basic(clientId, secret), 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ token: 'seed-probe' }),
    signal: AbortSignal.timeout(10_000),
  });
  await res.arrayBuffer();
  return res.status === 200;
}

const sameSet = (a: unknown, b: readonly unknown[]) => Array.isArray(a) && a.length === b.length && [...b].sort().every((v, i) => [...a].sort()[i] === v);

function sameServer(stored: StoredServer, wanted: StoredServer): boolean {
  return (
    sameSet(stored.scopes, wanted.scopes) &&
    stored.access_token_format === wanted.access_token_format &&
    stored.access_token_ttl === wanted.access_token_ttl &&
    stored.managed_by === wanted.managed_by
  );
}

/** The IDP shows a client with no OIDC scope with the `openid` it implies only when it has no other scope. */
function shownScopes(scopes: readonly string[]): string[] {
  if (scopes.length === 0) return ['openid'];
  const oidc = scopes.filter((s) => OIDC_SCOPES.has(s));
  return oidc.length === 1 && oidc[0] === 'openid' && scopes.length > 1 ? scopes.filter((s) => s !== 'openid') : [...scopes];
}

function sameClient(stored: StoredClient, wanted: SeedClient & { managed_by: string }): boolean {
  return (
    sameSet(stored.redirect_uris, wanted.redirect_uris) &&
    sameSet(stored.post_logout_redirect_uris, wanted.post_logout_redirect_uris) &&
    sameSet(stored.grant_types, wanted.grant_types) &&
    sameSet(stored.scopes, shownScopes(wanted.scopes)) &&
    sameSet(stored.introspects ?? [], wanted.introspects) &&
    sameSet(stored.token_exchange?.audiences ?? [], wanted.token_exchange?.audiences ?? []) &&
    stored.managed_by === wanted.managed_by
  );
}

export function seedOptionsFromEnv(source: NodeJS.ProcessEnv = process.env, argv: readonly string[] = []): SeedOptions {
  const env = new Env(source);
  const dataDir = env.string('IDP_DATA_DIR', './.data/idp');
  const adminToken = env.bearerSecret('IDP_ADMIN_TOKEN') ?? readFileIfPresent(join(dataDir, 'admin-token'));
  if (!adminToken) throw new ConfigError('IDP_ADMIN_TOKEN', `IDP_ADMIN_TOKEN or IDP_ADMIN_TOKEN_FILE must be set (or ${join(dataDir, 'admin-token')} exist)`);
  const unknown = argv.filter((arg) => arg !== '--prune');
  if (unknown.length) throw new ConfigError('argv', `unknown argument ${unknown[0]}; usage: npm run seed [-- --prune]`);
  return {
    idpBase: env.url('IDP_BASE', 'http://localhost:4000').origin,
    adminToken,
    credentialsDir: resolve(env.string('SEED_CREDENTIALS_DIR', './.data/credentials')),
    file: resolve(env.string('SEED_FILE', DEFAULT_SEED_FILE)),
    env: source,
    prune: argv.includes('--prune'),
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
  const options = loadOrExit('seed', () => seedOptionsFromEnv(process.env, process.argv.slice(2)));
  try {
    await seed(options);
  } catch (err) {
    console.error(`seed failed: ${(err as Error).message}`);
    process.exit(1);
  }
}
