// `tsx bench/profileServiceApi.ts noauth|static|introspection [seconds]`: one Service API variant
// (see serviceApiServer.ts) under load with --cpu-prof, then where its time went.
import { mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { clientCredentialsToken, registerClient, startIdp } from '../test/support/idp.ts';
import { ROOT } from '../test/support/process.ts';
import { startChild } from './children.ts';
import { settings } from './config.ts';
import { load } from './load.ts';

const [kind = 'introspection', seconds = '5'] = process.argv.slice(2);
const dir = join(ROOT, '.data/bench/profiles', `service-api-${kind}-${Date.now()}`);
mkdirSync(dir, { recursive: true });
const idp = await startIdp({ env: { LOG_LEVEL: 'silent' } });
try {
  const introspector = await registerClient(idp, 'service-introspector');
  const caller = await registerClient(idp, 'bench-caller', ['service.api']);
  const token = await clientCredentialsToken(idp, caller, 'service.api');
  settings.cpuProfileDir = dir;
  const apps = await startChild('./serviceApiServer.ts', {
    LOG_LEVEL: settings.logLevel,
    IDP_ISSUER: idp.issuer,
    IDP_INTROSPECTION_URL: `${idp.issuer}/introspect`,
    INTROSPECTION_CLIENT_ID: introspector.client_id,
    INTROSPECTION_CLIENT_SECRET: introspector.client_secret,
  });
  settings.cpuProfileDir = undefined;
  const { port } = await apps.call<{ port: number }>('app', { kind });
  const result = await load({ url: `http://127.0.0.1:${port}/v1/whoami`, headers: { authorization: `Bearer ${token}` }, seconds: Number(seconds), cpu: () => apps.call<number>('cpu') });
  console.log(`${kind}: ${result.rps} req/s, ${result.cpuUsPerRequest} µs CPU/request, p50 ${result.p50} ms, p99 ${result.p99} ms, ${result.non2xx} non-2xx`);
  await apps.stop();
} finally {
  await idp.stop();
}
const main = readdirSync(dir).filter((f) => /\.0\.\d+\.cpuprofile$/.test(f)).sort()[0];
spawnSync(process.execPath, ['--import', 'tsx', join(ROOT, 'bench/profileSummary.ts'), join(dir, main!), '40'], { stdio: 'inherit' });
