// `tsx bench/profileIdp.ts sqlite|memory introspect|grant [LOG_LEVEL] [seconds]`: one IDP under
// load with --cpu-prof, then where its time went. Profiles land in .data/bench/profiles/.
import { mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { ROOT } from '../test/support/process.ts';
import { settings } from './config.ts';
import { startIdpVariant } from './idp.ts';

const [store = 'sqlite', endpoint = 'introspect', logLevel = 'info', seconds = '5'] = process.argv.slice(2);
const dir = join(ROOT, '.data/bench/profiles', `${store}-${endpoint}-${logLevel}-${Date.now()}`);
mkdirSync(dir, { recursive: true });
settings.cpuProfileDir = dir;
settings.seconds = Number(seconds);
const target = await startIdpVariant({ store: store as 'sqlite' | 'memory', logLevel, stdout: 'pipe' });
const result = endpoint === 'grant' ? await target.grant() : await target.introspect();
console.log(`${target.name} ${endpoint}: ${result.rps} req/s, p50 ${result.p50} ms, p99 ${result.p99} ms`);
await target.child.stop();
const main = readdirSync(dir).filter((f) => f.endsWith('.cpuprofile')).sort().find((f) => /\.0\.\d+\.cpuprofile$/.test(f));
spawnSync(process.execPath, ['--import', 'tsx', join(ROOT, 'bench/profileSummary.ts'), join(dir, main!), '30'], { stdio: 'inherit' });
