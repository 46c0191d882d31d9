// `tsx bench/idpMicro.ts`: per-call costs inside the IDP process that an HTTP benchmark cannot
// separate: oidc-provider's Client.find over the SQLite store and over its memory adapter, and one
// request log line (pino, LOG_LEVEL=info) written to /dev/null and to a pipe. Best of 5 rounds.
import { spawn } from 'node:child_process';
import { mkdtempSync, openSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { createProvider } from '../idp/src/provider.ts';
import { loadConfig } from '../idp/src/config.ts';
import { loadSecrets } from '../idp/src/keys.ts';
import { openStore } from '../idp/src/store/index.ts';
import { memoryStore } from './memoryStore.ts';

const N = 20_000;
const best = async (op: () => unknown, n = N) => {
  let min = Infinity;
  for (let round = 0; round < 5; round++) {
    const t = performance.now();
    for (let i = 0; i < n; i++) await op();
    min = Math.min(min, ((performance.now() - t) * 1000) / n);
  }
  return min.toFixed(1);
};

const dataDir = mkdtempSync(join(tmpdir(), 'idp-micro-'));
const config = loadConfig({ IDP_DATA_DIR: dataDir, IDP_ISSUER: 'http://127.0.0.1:4999/oauth' });
const secrets = await loadSecrets(dataDir, { adminToken: 'x'.repeat(32) });
const metadata: import('oidc-provider').AdapterPayload = { client_id: 'bench-caller', client_secret: 'x'.repeat(43), client_name: 'bench-caller', scope: 'service.api', grant_types: ['client_credentials'], response_types: [], redirect_uris: [], post_logout_redirect_uris: [], token_endpoint_auth_method: 'client_secret_basic', client_id_issued_at: 1 };
for (const [name, store] of [['sqlite', await openStore(config)], ['memory', memoryStore()]] as const) {
  await store.createClient('bench-caller', metadata);
  const provider = createProvider(config, secrets, store);
  const found = await provider.Client.find('bench-caller');
  if (!found) throw new Error('client not found');
  console.log(`Client.find (${name} store): ${await best(() => provider.Client.find('bench-caller'))} µs`);
}

const line = { method: 'POST', path: '/oauth/introspect', status: 200, ms: 1.3 };
const redact = { paths: ['req.headers.authorization', 'req.headers.cookie', '*.client_secret', '*.access_token', '*.password', '*.token'], censor: '[redacted]' };
const devNull = pino({ level: 'info', base: { service: 'idp' }, redact }, pino.destination({ dest: openSync('/dev/null', 'w'), sync: true }));
console.log(`log line → /dev/null (sync, with redact): ${await best(() => devNull.info(line, 'request'))} µs`);
const plain = pino({ level: 'info', base: { service: 'idp' } }, pino.destination({ dest: openSync('/dev/null', 'w'), sync: true }));
console.log(`log line → /dev/null (sync, no redact):   ${await best(() => plain.info(line, 'request'))} µs`);
// A pipe drained by another process, as under `npm start` or a container runtime.
const cat = spawn('cat', [], { stdio: ['pipe', 'ignore', 'ignore'] });
const fd = (cat.stdin as unknown as { _handle: { fd: number } })._handle.fd;
const piped = pino({ level: 'info', base: { service: 'idp' }, redact }, pino.destination({ dest: fd, sync: true }));
console.log(`log line → pipe (sync, with redact):      ${await best(() => piped.info(line, 'request'))} µs`);
const pipedAsync = pino({ level: 'info', base: { service: 'idp' }, redact }, pino.destination({ dest: fd, sync: false, minLength: 4096 }));
console.log(`log line → pipe (async, 4 kB buffer):     ${await best(() => pipedAsync.info(line, 'request'))} µs`);
pipedAsync.flush();
cat.kill();
process.exit(0);
