// `npm start`: the IDP, the seed, the Service API and Solutrix-API, with logs prefixed by service.
// Every setting comes from the environment; defaults are the local-dev ports 4000 / 4001 / 3000.
import { spawn, type ChildProcess } from 'node:child_process';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Env, loadOrExit } from '../lib/env.ts';
import { waitForHealthy } from '../lib/http.ts';
import { prettyLines } from './prettyLog.ts';
import { secretFile, seed, seedOptionsFromEnv } from './seed.ts';

// Configuration, read once through lib/env.ts as the services' config modules do.
const { idpPort, servicePort, solutrixPort, host, issuer, solutrixUrl, dataDir, credentialsDir, tokenFormat, audience, tokenVerification, revocationEvents, logFormat } = loadOrExit(
  'start',
  () => {
    const env = new Env(process.env);
    const idpPort = env.port('IDP_PORT', 4000);
    const servicePort = env.port('SERVICE_API_PORT', 4001);
    const solutrixPort = env.port('SOLUTRIX_PORT', 3000);
    return {
      idpPort,
      servicePort,
      solutrixPort,
      host: env.string('HOST', '127.0.0.1'),
      issuer: env.string('IDP_ISSUER', `http://localhost:${idpPort}/oauth`),
      solutrixUrl: env.string('SOLUTRIX_PUBLIC_URL', `http://localhost:${solutrixPort}`),
      dataDir: resolve(env.string('IDP_DATA_DIR', './.data/idp')),
      credentialsDir: resolve(env.string('SEED_CREDENTIALS_DIR', './.data/credentials')),
      // opaque: the Service API introspects; jwt: the IDP issues RFC 9068 at+jwt for the Service API's
      // resource identifier, Solutrix asks for it by name, and the Service API (auto) verifies them locally.
      tokenFormat: env.oneOf('ACCESS_TOKEN_FORMAT', ['opaque', 'jwt'] as const, 'opaque'),
      audience: env.string('SERVICE_API_AUDIENCE', `http://localhost:${servicePort}`),
      tokenVerification: env.oneOf('TOKEN_VERIFICATION', ['auto', 'jwt', 'introspection'] as const, 'auto'),
      // On here (the Service API's own default is off): REVOCATION_EVENTS=off brings back the plain 30 s cache.
      revocationEvents: env.oneOf('REVOCATION_EVENTS', ['ssf', 'off'] as const, 'ssf'),
      logFormat: env.oneOf('LOG_FORMAT', ['json', 'pretty'] as const, process.stdout.isTTY ? 'pretty' : 'json'),
    };
  },
);
const idpBase = `http://127.0.0.1:${idpPort}`;
const serviceApiUrl = `http://127.0.0.1:${servicePort}`;
// Readable lines in a terminal, JSON for files and pipes; LOG_FORMAT=json|pretty decides otherwise.
const format = logFormat === 'pretty' ? prettyLines({ colorize: process.stdout.isTTY === true }) : (line: string) => line;

const children = new Set<ChildProcess>();
let stopping = false;

function run(name: string, entry: string, extraEnv: Record<string, string>): ChildProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', '--import', './lib/tracing.ts', entry], {
    cwd: fileURLToPath(new URL('../', import.meta.url)),
    env: { ...process.env, ...extraEnv, HOST: host },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  const prefix = `${name.padEnd(12)}| `;
  for (const stream of [child.stdout!, child.stderr!]) {
    let pending = '';
    stream.on('data', (chunk: Buffer) => {
      const lines = (pending + chunk.toString()).split('\n');
      pending = lines.pop()!;
      for (const line of lines) process.stdout.write(`${prefix}${format(line)}\n`);
    });
  }
  child.on('exit', (code, signal) => {
    children.delete(child);
    if (!stopping) {
      console.error(`${prefix}exited (${signal ?? code}); stopping the stack`);
      void stop(1);
    }
  });
  return child;
}

async function stop(code: number): Promise<void> {
  if (stopping) return;
  stopping = true;
  const exits = [...children].map((child) => new Promise((r) => child.once('exit', r)));
  for (const child of children) child.kill('SIGTERM');
  const timer = setTimeout(() => {
    for (const child of children) child.kill('SIGKILL');
  }, 5000);
  await Promise.all(exits);
  clearTimeout(timer);
  process.exit(code);
}

process.on('SIGINT', () => void stop(0));
process.on('SIGTERM', () => void stop(0));

try {
  const started = performance.now();
  const idp = run('idp', 'idp/src/main.ts', {
    PORT: String(idpPort),
    IDP_ISSUER: issuer,
    IDP_DATA_DIR: dataDir,
    ACCESS_TOKEN_FORMAT: tokenFormat,
    SERVICE_API_AUDIENCE: audience,
  });
  await waitForHealthy(`${idpBase}/healthz`, idp);

  // The same seed file as `npm run seed` and compose's seed service; its ${VAR}s see this stack's URLs.
  const seedEnv = { ...process.env, IDP_DATA_DIR: dataDir, SERVICE_API_AUDIENCE: audience, SOLUTRIX_PUBLIC_URL: solutrixUrl };
  await seed({
    ...seedOptionsFromEnv(seedEnv),
    idpBase,
    credentialsDir,
    log: (line) => console.log(`${'seed'.padEnd(12)}| ${line}`),
  });

  const services = [
    run('service-api', 'service-api/src/main.ts', {
      PORT: String(servicePort),
      IDP_ISSUER: issuer,
      IDP_INTROSPECTION_URL: `${idpBase}/oauth/introspect`,
      INTROSPECTION_CLIENT_ID: 'service-introspector',
      INTROSPECTION_CLIENT_SECRET_FILE: secretFile(credentialsDir, 'service-introspector'),
      TOKEN_VERIFICATION: tokenVerification,
      IDP_JWKS_URL: `${idpBase}/oauth/jwks.json`,
      SERVICE_API_AUDIENCE: audience,
      // The IDP tells the Service API what was revoked, so its cache may keep answers until exp.
      REVOCATION_EVENTS: revocationEvents,
      IDP_SSF_CONFIGURATION_URL: `${idpBase}/.well-known/ssf-configuration${new URL(issuer).pathname.replace(/\/+$/, '')}`,
      IDP_TOKEN_URL: `${idpBase}/oauth/token`,
    }),
    run('solutrix-api', 'solutrix-api/src/main.ts', {
      PORT: String(solutrixPort),
      IDP_ISSUER: issuer,
      IDP_TOKEN_URL: `${idpBase}/oauth/token`,
      IDP_CLIENT_ID: 'solutrix-api',
      IDP_CLIENT_SECRET_FILE: secretFile(credentialsDir, 'solutrix-api'),
      SERVICE_API_URL: serviceApiUrl,
      ...(tokenFormat === 'jwt' ? { SERVICE_API_RESOURCE: audience } : {}),
      // The end-user web login: the browser uses the public issuer, server-to-IDP calls go direct.
      IDP_BACKCHANNEL_URL: idpBase,
      WEB_CLIENT_ID: 'solutrix-web',
      WEB_CLIENT_SECRET_FILE: secretFile(credentialsDir, 'solutrix-web'),
      SOLUTRIX_PUBLIC_URL: solutrixUrl,
    }),
  ];
  await Promise.all([
    waitForHealthy(`${serviceApiUrl}/healthz`, services[0]),
    waitForHealthy(`http://127.0.0.1:${solutrixPort}/healthz`, services[1]),
  ]);
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  console.log(`
  Stack ready in ${seconds} s
    Solutrix      ${solutrixUrl}
    Service API   http://localhost:${servicePort}
    IDP           ${issuer}   (admin API http://localhost:${idpPort}/api/global/admin)
    Tokens        ${tokenFormat === 'jwt' ? `JWT (at+jwt, aud ${audience}), verified locally by the Service API` : 'opaque, introspected by the Service API'}
    Data          ${dataDir}
    Credentials   ${credentialsDir}
  Ctrl-C stops everything.
`);
} catch (err) {
  console.error(`start failed: ${(err as Error).message}`);
  await stop(1);
}
