// Signing-key rotation for the IDP (`npm run keys -- <command>`). The first key signs; every key is
// published at /oauth/jwks.json. The keys are in the data dir's jwks.json, or, with IDP_DATABASE_URL,
// in the shared store, where every replica reads them: a running IDP picks up each step by itself
// (within IDP_KEYS_REFRESH_INTERVAL, usually at once), no restart.
//   list              the keys, signing key first
//   add               1. publish a new key (verifiers fetch it before it signs anything)
//   promote <kid>     2. sign with it (after verifiers' JWKS caches have had time to refresh)
//   retire <kid>      3. remove the old key once the tokens it signed have expired
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { readDatabaseUrl } from '../idp/src/config.ts';
import { dataDirKeys, sharedKeys, type Jwks, type KeySource } from '../idp/src/keyring.ts';
import { newSigningKey } from '../idp/src/keys.ts';
import { openPostgresStore } from '../idp/src/store/postgres.ts';
import { Env, loadOrExit } from '../lib/env.ts';

export function readJwks(dataDir: string): Jwks {
  return JSON.parse(readFileSync(join(dataDir, 'jwks.json'), 'utf8')) as Jwks;
}

/** One step of the rotation on the keys in `target` (a data dir, or any key source such as the shared store). */
export async function rotate(target: string | KeySource, command: string, kid?: string): Promise<string> {
  const keys = typeof target === 'string' ? dataDirKeys(target) : target;
  const indexOf = (jwks: Jwks) => {
    const index = jwks.keys.findIndex((k) => k.kid === kid);
    if (index === -1) throw new Error(`no key ${kid}`);
    return index;
  };
  switch (command) {
    case 'list':
      return (await keys.read()).keys.map((k, i) => `${k.kid} ${k.alg}${i === 0 ? ' (signing)' : ''}`).join('\n');
    case 'add': {
      const key = await newSigningKey();
      await keys.update((jwks) => ({ keys: [...jwks.keys, key] }));
      return `added ${key.kid} (published, not signing yet)`;
    }
    case 'promote':
      // Inside update: with the shared store the row is locked, so a concurrent step cannot interleave.
      await keys.update((jwks) => {
        const index = indexOf(jwks);
        return { keys: [jwks.keys[index]!, ...jwks.keys.filter((_, i) => i !== index)] };
      });
      return `${kid} now signs`;
    case 'retire':
      await keys.update((jwks) => {
        const index = indexOf(jwks);
        if (index === 0) throw new Error(`${kid} is the signing key: promote another key first`);
        return { keys: jwks.keys.filter((_, i) => i !== index) };
      });
      return `retired ${kid}`;
    default:
      throw new Error('usage: keys list | add | promote <kid> | retire <kid>');
  }
}

/** `rotate` on the keys the IDP configured by `env` uses: the shared store with IDP_DATABASE_URL, else the data dir. */
export async function rotateConfigured(config: { databaseUrl: string | undefined; dataDir: string }, command: string, kid?: string): Promise<string> {
  if (!config.databaseUrl) return rotate(config.dataDir, command, kid);
  const store = await openPostgresStore(config.databaseUrl, { poolSize: 1 });
  try {
    return await rotate(sharedKeys(store.settings!), command, kid);
  } finally {
    await store.close();
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const [command = 'list', kid] = process.argv.slice(2);
  const config = loadOrExit('keys', () => {
    const env = new Env(process.env);
    return { databaseUrl: readDatabaseUrl(env), dataDir: resolve(env.string('IDP_DATA_DIR', './.data/idp')) };
  });
  rotateConfigured(config, command, kid).then(
    (message) => console.log(message),
    (err: Error) => {
      console.error(`keys: ${err.message}`);
      process.exit(1);
    },
  );
}
