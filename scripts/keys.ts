// Signing-key rotation for the IDP (`npm run keys -- <command>`). The first key of jwks.json signs;
// every key in it is published at /oauth/jwks.json. Restart the IDP after each step.
//   list              the keys, signing key first
//   add               1. publish a new key (verifiers fetch it before it signs anything)
//   promote <kid>     2. sign with it (after verifiers' JWKS caches have had time to refresh)
//   retire <kid>      3. remove the old key once the tokens it signed have expired
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { JWK } from 'jose';
import { newSigningKey } from '../idp/src/keys.ts';
import { Env, loadOrExit } from '../lib/env.ts';

type Jwks = { keys: JWK[] };

export function readJwks(dataDir: string): Jwks {
  return JSON.parse(readFileSync(join(dataDir, 'jwks.json'), 'utf8')) as Jwks;
}

function writeJwks(dataDir: string, jwks: Jwks): void {
  const file = join(dataDir, 'jwks.json');
  writeFileSync(`${file}.tmp`, `${JSON.stringify(jwks, null, 2)}\n`, { mode: 0o600 });
  renameSync(`${file}.tmp`, file);
}

export async function rotate(dataDir: string, command: string, kid?: string): Promise<string> {
  const jwks = readJwks(dataDir);
  const index = jwks.keys.findIndex((k) => k.kid === kid);
  switch (command) {
    case 'list':
      return jwks.keys.map((k, i) => `${k.kid} ${k.alg}${i === 0 ? ' (signing)' : ''}`).join('\n');
    case 'add': {
      const key = await newSigningKey();
      writeJwks(dataDir, { keys: [...jwks.keys, key] });
      return `added ${key.kid} (published, not signing yet)`;
    }
    case 'promote':
      if (index === -1) throw new Error(`no key ${kid}`);
      writeJwks(dataDir, { keys: [jwks.keys[index]!, ...jwks.keys.filter((_, i) => i !== index)] });
      return `${kid} now signs`;
    case 'retire':
      if (index === -1) throw new Error(`no key ${kid}`);
      if (index === 0) throw new Error(`${kid} is the signing key: promote another key first`);
      writeJwks(dataDir, { keys: jwks.keys.filter((_, i) => i !== index) });
      return `retired ${kid}`;
    default:
      throw new Error('usage: keys list | add | promote <kid> | retire <kid>');
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const [command = 'list', kid] = process.argv.slice(2);
  const dataDir = loadOrExit('keys', () => resolve(new Env(process.env).string('IDP_DATA_DIR', './.data/idp')));
  rotate(dataDir, command, kid).then(
    (message) => console.log(message),
    (err: Error) => {
      console.error(`keys: ${err.message}`);
      process.exit(1);
    },
  );
}
