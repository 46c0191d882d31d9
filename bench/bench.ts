// `npm run bench`: starts everything it measures on loopback ports, prints a Markdown table and writes
// .data/bench/results.{json,md}. Phases: BENCH_PHASES=service,idp,startup,revocation (the default), and
// scale (the cost curve to a million tokens: ~12 minutes and ~0.5 GB of disk, so asked for by name:
// BENCH_PHASES=scale; sizes in BENCH_SCALE_SIZES, BENCH_SCALE_PG_SIZES, BENCH_SCALE_CACHED).
// BENCH_SECONDS (4), BENCH_CONNECTIONS (20), BENCH_ROUNDS (3), BENCH_LOG_LEVEL (info),
// BENCH_REVOCATIONS (100), BENCH_TOKEN_LIFE (60 s; 600 for a real 10-minute token).
import { mkdirSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { startIdp, type TestIdp } from '../test/support/idp.ts';
import { ROOT } from '../test/support/process.ts';
import { benchIdp } from './idp.ts';
import { settings } from './config.ts';
import { machine, markdown, type Results } from './report.ts';
import { benchScale } from './scale.ts';
import { benchServiceApi } from './serviceApi.ts';
import { benchRevocation } from './revocation.ts';
import { benchStartup } from './startup.ts';

const phases = new Set(settings.phases);
const { rounds, logLevel } = settings;
const progress = (line: string) => console.error(`bench: ${line}`);
const started = performance.now();

const results: Results = {
  date: new Date().toISOString(),
  machine: machine(),
  settings: { seconds: settings.seconds, connections: settings.connections, rounds, logLevel },
};

if (phases.has('service')) {
  const idps: TestIdp[] = [];
  try {
    progress('starting an IDP (opaque tokens) and one in jwt mode');
    const env = { LOG_LEVEL: 'info', CLIENT_CREDENTIALS_TTL: '600' };
    const [idp, jwtIdp] = await Promise.all([startIdp({ env }), startIdp({ env: { ...env, ACCESS_TOKEN_FORMAT: 'jwt' } })]);
    idps.push(idp, jwtIdp);
    results.serviceApi = await benchServiceApi(idp, jwtIdp, { rounds, logLevel, progress });
  } finally {
    await Promise.all(idps.map((idp) => idp.stop()));
  }
}
if (phases.has('idp')) results.idp = await benchIdp({ rounds, progress });
if (phases.has('startup')) {
  progress('5. npm start: cold and warm');
  results.startup = await benchStartup();
}
if (phases.has('revocation')) {
  results.revocation = await benchRevocation({ revocations: settings.revocations, tokenLifeSeconds: settings.tokenLifeSeconds, logLevel, progress });
}
if (phases.has('scale')) results.scale = await benchScale({ progress });

results.machine.loadavgAfter = loadavg().map((l) => +l.toFixed(2));
results.durationSeconds = Math.round((performance.now() - started) / 1000);
const dir = join(ROOT, '.data/bench');
mkdirSync(dir, { recursive: true });
const table = markdown(results);
writeFileSync(join(dir, 'results.json'), `${JSON.stringify(results, null, 2)}\n`);
writeFileSync(join(dir, 'results.md'), `${table}\n`);
console.log(`\n${table}\nbench: ${results.durationSeconds} s; results in .data/bench/results.json and results.md`);
