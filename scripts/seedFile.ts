// Reading and checking the seed file (scripts/seed.json): JSON Schema first (seed.schema.json, the
// same one editors use), then ${VAR} substitution, then what a schema cannot say (references between
// objects, duplicates, URIs). Every problem is reported with its JSON path; nothing is applied while
// there is one.
import { readFileSync } from 'node:fs';
import { Ajv, type ErrorObject } from 'ajv';

export type SeedResourceServer = { identifier: string; scopes: string[]; access_token_format?: 'opaque' | 'jwt'; access_token_ttl?: number };
export type SeedClient = {
  name: string;
  grant_types: string[];
  scopes: string[];
  redirect_uris: string[];
  post_logout_redirect_uris: string[];
  introspects: string[];
};
export type SeedUser = { username: string; password: string; name?: string; email?: string };
export type SeedDeclaration = { resource_servers: SeedResourceServer[]; clients: SeedClient[]; users: SeedUser[] };

export const OIDC_SCOPES = new Set(['openid', 'offline_access', 'profile', 'email']);
/** Scopes of the IDP's built-in resource servers (idp/src/ssf/resourceServer.ts): declared by the IDP, never by a seed file. */
export const IDP_BUILT_IN_SCOPES = new Set(['ssf.manage']);

/** A bad seed file: every problem, one per line, each starting with its JSON path. */
export class SeedFileError extends Error {
  constructor(
    readonly file: string,
    readonly problems: string[],
  ) {
    super(`${file} is not a valid seed file:\n${problems.map((p) => `  ${p}`).join('\n')}`);
  }
}

const schema = JSON.parse(readFileSync(new URL('./seed.schema.json', import.meta.url), 'utf8')) as object;
const validateSchema = new Ajv({ allErrors: true, strict: false }).compile(schema);

/** `/clients/3/scopes/1` → `clients[3].scopes[1]` */
export function jsonPath(pointer: string): string {
  return pointer
    .split('/')
    .slice(1)
    .map((part) => part.replace(/~1/g, '/').replace(/~0/g, '~'))
    .reduce((path, part) => (/^\d+$/.test(part) ? `${path}[${part}]` : path ? `${path}.${part}` : part), '');
}

function describeSchemaError(error: ErrorObject): string {
  const path = jsonPath(error.instancePath) || '(top level)';
  switch (error.keyword) {
    case 'additionalProperties':
      return `${path}: unknown field "${(error.params as { additionalProperty: string }).additionalProperty}"`;
    case 'required':
      return `${path}: "${(error.params as { missingProperty: string }).missingProperty}" is required`;
    case 'enum':
      return `${path}: must be one of ${(error.params as { allowedValues: unknown[] }).allowedValues.map((v) => JSON.stringify(v)).join(', ')}`;
    default:
      return `${path}: ${error.message}`;
  }
}

const VARIABLE = /\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g;

/** Replaces ${NAME} and ${NAME:-default} in every string; an unset variable without a default is a problem. */
function substitute(value: unknown, path: string, env: NodeJS.ProcessEnv, problems: string[]): unknown {
  if (typeof value === 'string') {
    return value.replace(VARIABLE, (_all, name: string, fallback: string | undefined) => {
      const set = env[name];
      if (set !== undefined && set !== '') return set;
      if (fallback !== undefined) return fallback;
      problems.push(`${path}: \${${name}} is not set and has no default`);
      return '';
    });
  }
  if (Array.isArray(value)) return value.map((item, i) => substitute(item, `${path}[${i}]`, env, problems));
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, substitute(item, path ? `${path}.${key}` : key, env, problems)]));
  }
  return value;
}

const absoluteUri = (value: string) => URL.canParse(value) && !value.includes('#');
const httpUrl = (value: string) => URL.canParse(value) && /^https?:$/.test(new URL(value).protocol) && !value.includes('#');

/** The environment variable that overrides a demo user's password: SEED_ALICE_PASSWORD for alice. */
export const passwordVariable = (username: string) => `SEED_${username.toUpperCase().replace(/[^A-Z0-9]/g, '_')}_PASSWORD`;

/**
 * Reads a seed file, validates it against the schema and resolves its variables. A file that fails
 * the schema throws; problems found after that (unset variables) are returned, to be listed together
 * with those of checkReferences.
 */
export function parseSeedFile(file: string, env: NodeJS.ProcessEnv): { declaration: SeedDeclaration; problems: string[] } {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    const reason = err instanceof SyntaxError ? `not valid JSON (${err.message})` : `cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`;
    throw new SeedFileError(file, [`(file): ${reason}`]);
  }
  if (!validateSchema(raw)) throw new SeedFileError(file, (validateSchema.errors ?? []).map(describeSchemaError));
  const problems: string[] = [];
  const resolved = substitute(raw, '', env, problems) as {
    resource_servers: SeedResourceServer[];
    clients: Partial<SeedClient>[];
    users?: SeedUser[];
  };
  const declaration: SeedDeclaration = {
    resource_servers: resolved.resource_servers,
    clients: resolved.clients.map((c) => ({
      name: c.name!,
      grant_types: c.grant_types!,
      scopes: c.scopes ?? [],
      redirect_uris: c.redirect_uris ?? [],
      post_logout_redirect_uris: c.post_logout_redirect_uris ?? [],
      introspects: c.introspects ?? [],
    })),
    users: (resolved.users ?? []).map((u) => ({ ...u, password: env[passwordVariable(u.username)] || u.password })),
  };
  return { declaration, problems };
}

/**
 * A seed file checked completely, or a SeedFileError listing every problem. `elsewhere`: scope →
 * identifier of the resource servers the IDP keeps beside the file's (created by hand).
 */
export function readSeedFile(file: string, env: NodeJS.ProcessEnv, elsewhere: ReadonlyMap<string, string> = new Map()): SeedDeclaration {
  const { declaration, problems } = parseSeedFile(file, env);
  problems.push(...checkReferences(declaration, elsewhere));
  if (problems.length) throw new SeedFileError(file, problems);
  return declaration;
}

/** Problems a schema cannot see, within the file and against the resource servers the IDP has already. */
export function checkReferences(seed: SeedDeclaration, elsewhere: ReadonlyMap<string, string> = new Map()): string[] {
  const problems: string[] = [];
  const servers = new Map<string, number>();
  const owner = new Map<string, string>(); // scope → where it is declared
  seed.resource_servers.forEach((server, i) => {
    const at = `resource_servers[${i}]`;
    if (!absoluteUri(server.identifier)) problems.push(`${at}.identifier: "${server.identifier}" is not an absolute URI without a fragment`);
    if (servers.has(server.identifier)) problems.push(`${at}.identifier: "${server.identifier}" is declared twice (also resource_servers[${servers.get(server.identifier)}])`);
    servers.set(server.identifier, i);
    server.scopes.forEach((scope, j) => {
      if (OIDC_SCOPES.has(scope)) problems.push(`${at}.scopes[${j}]: "${scope}" is an OpenID Connect scope of the IDP itself`);
      else if (IDP_BUILT_IN_SCOPES.has(scope)) problems.push(`${at}.scopes[${j}]: "${scope}" belongs to a resource server built into the IDP`);
      else if (owner.has(scope)) problems.push(`${at}.scopes[${j}]: "${scope}" is already declared by ${owner.get(scope)}`);
      else if (elsewhere.has(scope) && elsewhere.get(scope) !== server.identifier) problems.push(`${at}.scopes[${j}]: "${scope}" is already declared by resource server ${elsewhere.get(scope)} at the IDP`);
      else owner.set(scope, `resource_servers[${i}]`);
    });
  });
  const declared = new Set([...servers.keys(), ...elsewhere.values()]);
  const names = new Map<string, number>();
  seed.clients.forEach((client, i) => {
    const at = `clients[${i}]`;
    if (names.has(client.name)) problems.push(`${at}.name: "${client.name}" is declared twice (also clients[${names.get(client.name)}])`);
    names.set(client.name, i);
    client.scopes.forEach((scope, j) => {
      if (!OIDC_SCOPES.has(scope) && !IDP_BUILT_IN_SCOPES.has(scope) && !owner.has(scope) && !elsewhere.has(scope)) problems.push(`${at}.scopes[${j}]: "${scope}" is not declared by any resource server`);
    });
    client.introspects.forEach((identifier, j) => {
      if (!declared.has(identifier)) problems.push(`${at}.introspects[${j}]: "${identifier}" is not a declared resource server`);
    });
    for (const field of ['redirect_uris', 'post_logout_redirect_uris'] as const) {
      client[field].forEach((uri, j) => {
        if (!httpUrl(uri)) problems.push(`${at}.${field}[${j}]: "${uri}" is not an absolute http(s) URL without a fragment`);
      });
    }
    if (client.grant_types.includes('authorization_code') && client.redirect_uris.length === 0) {
      problems.push(`${at}.redirect_uris: at least one is required with the authorization_code grant`);
    }
    if (client.grant_types.includes('refresh_token') && !client.grant_types.includes('authorization_code')) {
      problems.push(`${at}.grant_types: refresh_token needs authorization_code`);
    }
  });
  const usernames = new Map<string, number>();
  seed.users.forEach((user, i) => {
    if (usernames.has(user.username)) problems.push(`users[${i}].username: "${user.username}" is declared twice (also users[${usernames.get(user.username)}])`);
    usernames.set(user.username, i);
  });
  return problems;
}
