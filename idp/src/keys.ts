import { randomBytes, randomUUID } from 'node:crypto';
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { exportJWK, generateKeyPair, type JWK } from 'jose';
import type { SettingsStore } from './store/types.ts';

export type Secrets = { jwks: { keys: JWK[] }; cookieKeys: string[]; adminToken: string; adminTokenFile?: string };

/**
 * Signing keys, cookie keys and the admin token: taken from configuration when given, otherwise
 * generated on first start and kept in the data dir (owner-only files), so restarts keep every
 * session, cookie and token valid. Never oidc-provider's built-in development keys.
 */
export async function loadSecrets(dataDir: string, configured: { adminToken?: string | undefined } = {}): Promise<Secrets> {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const jwks = await readOrCreate(join(dataDir, 'jwks.json'), async () => ({ keys: [await newSigningKey()] }));
  assertPrivateJwks(jwks, join(dataDir, 'jwks.json'));
  const cookieKeys = await readOrCreate(join(dataDir, 'cookie-keys.json'), async () => [randomBytes(32).toString('base64url')]);
  if (configured.adminToken !== undefined) return { jwks, cookieKeys, adminToken: configured.adminToken };
  const adminTokenFile = join(dataDir, 'admin-token');
  const adminToken = await readOrCreate(adminTokenFile, async () => randomBytes(32).toString('base64url'), String);
  return { jwks, cookieKeys, adminToken, adminTokenFile };
}

/**
 * Replicas over one database: the signing keys and cookie keys are generated once, by whichever
 * replica gets there first, and read by all, so every replica publishes the same JWKS and accepts the
 * same cookies. The admin token comes from shared configuration, never from a replica's data dir.
 */
export async function loadSharedSecrets(settings: SettingsStore, adminToken: string): Promise<Secrets> {
  const jwks = JSON.parse(await settings.getOrCreate('jwks', async () => JSON.stringify({ keys: [await newSigningKey()] }))) as Secrets['jwks'];
  assertPrivateJwks(jwks, 'the idp_settings row "jwks"');
  const cookieKeys = JSON.parse(await settings.getOrCreate('cookie_keys', async () => JSON.stringify([randomBytes(32).toString('base64url')]))) as unknown;
  if (!Array.isArray(cookieKeys) || cookieKeys.length === 0 || cookieKeys.some((k) => typeof k !== 'string' || k.length < 16)) {
    throw new TypeError('the idp_settings row "cookie_keys" must hold a JSON array of secret strings');
  }
  return { jwks, cookieKeys: cookieKeys as string[], adminToken };
}

export function assertPrivateJwks(jwks: Secrets['jwks'], where: string): void {
  if (!Array.isArray(jwks?.keys) || jwks.keys.length === 0 || jwks.keys.some((k) => typeof k.d !== 'string')) {
    throw new TypeError(`${where} must hold a private JWKS with at least one key`);
  }
}

export async function newSigningKey(alg = 'RS256'): Promise<JWK> {
  const { privateKey } = await generateKeyPair(alg, { extractable: true, modulusLength: 2048 });
  return { ...(await exportJWK(privateKey)), kid: randomUUID(), alg, use: 'sig' };
}

async function readOrCreate<T>(
  file: string,
  create: () => Promise<T>,
  parse: (text: string) => T = JSON.parse,
): Promise<T> {
  try {
    return parse(readFileSync(file, 'utf8').trim());
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new TypeError(`cannot read ${file}: ${(err as Error).message}`);
  }
  const value = await create();
  const text = typeof value === 'string' ? value : JSON.stringify(value, null, 2);
  try {
    writeFileSync(file, `${text}\n`, { mode: 0o600, flag: 'wx' });
  } catch (err) {
    // Another process created it first: theirs wins.
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return parse(readFileSync(file, 'utf8').trim());
    throw err;
  }
  chmodSync(file, 0o600);
  return value;
}
