import { cpus, loadavg, totalmem } from 'node:os';
import type { IdpResults } from './idp.ts';
import { capacity, type LoadResult } from './load.ts';
import type { ScaleResults } from './scale.ts';
import type { ServiceApiResults } from './serviceApi.ts';
import type { RevocationResults } from './revocation.ts';
import type { StartupResult } from './startup.ts';

export type Machine = { cpu: string; cores: number; memoryGb: number; node: string; platform: string; loadavgBefore: number[]; loadavgAfter?: number[] };

export function machine(): Machine {
  return {
    cpu: cpus()[0]?.model.trim() ?? 'unknown',
    cores: cpus().length,
    memoryGb: Math.round(totalmem() / 2 ** 30),
    node: process.version,
    platform: `${process.platform} ${process.arch}`,
    loadavgBefore: loadavg().map((l) => +l.toFixed(2)),
  };
}

export type Results = {
  date: string;
  machine: Machine;
  settings: { seconds: number; connections: number; rounds: number; logLevel: string };
  serviceApi?: ServiceApiResults;
  idp?: IdpResults;
  startup?: { cold: StartupResult; warm: StartupResult };
  revocation?: RevocationResults;
  scale?: ScaleResults;
  durationSeconds?: number;
};

const n = (x: number) => Math.round(x).toLocaleString('en-US');
const pct = (x: number) => `${(x * 100).toFixed(0)} %`;
const ratio = (x: number) => x.toFixed(2);
const row = (cells: (string | number)[]) => `| ${cells.join(' | ')} |`;
const cpuCell = (r: LoadResult) => (r.cpuUsPerRequest ? `${r.cpuUsPerRequest} µs` : '—');
const failed = (r: LoadResult) => (r.non2xx + r.errors ? `${r.non2xx + r.errors} failed ` : '');
const loadRow = (name: string, r: LoadResult, vs?: LoadResult, note = '') =>
  row([name, n(r.rps), `${r.p50} / ${r.p99}`, cpuCell(r), vs === undefined ? '' : ratio(capacity(r) / capacity(vs)), `${failed(r)}${note}`]);
const ok = (good: boolean) => (good ? '✅' : '❌');
const milestones = (r: StartupResult) => Object.entries(r.milestones).map(([k, v]) => `${k} ${v.toFixed(1)}`).join(', ');
const statuses = (s: Record<number, number>) => Object.entries(s).map(([k, v]) => `${v}× ${k}`).join(', ');

export function markdown(r: Results): string {
  const m = r.machine;
  const lines = [
    `Benchmarks of ${r.date} — ${m.cpu}, ${m.cores} cores, ${m.memoryGb} GB, Node ${m.node} (${m.platform}); load average ${m.loadavgBefore.join(' ')} before, ${m.loadavgAfter?.join(' ') ?? '?'} after.`,
    `autocannon: ${r.settings.connections} connections, ${r.settings.seconds} s per run after 1 s warm-up, best of ${r.settings.rounds} alternating rounds; services log at ${r.settings.logLevel}.`,
    'Ratios (÷ columns) compare **server CPU time per request** (user + system of the server process during the run), which the other load on a shared machine hardly changes; req/s and latencies are as measured and move with that load.',
    '',
  ];
  const s = r.serviceApi;
  if (s) {
    const w = s.whoami;
    lines.push(
      '**1. Service API `GET /v1/whoami`** (same process, same middleware stack; only authentication differs)',
      '',
      row(['variant', 'req/s', 'p50 / p99 ms', 'server CPU / req', '÷ no-auth', 'note']),
      row(['---', '---:', '---:', '---:', '---:', '---']),
      loadRow('no auth (stack minus `requireBearer`)', w.noAuth, w.noAuth),
      loadRow('`requireBearer`, verifier that costs nothing', w.bearerOnly, w.noAuth),
      loadRow('opaque token, cached introspection', w.cachedIntrospection, w.noAuth, `target ≥ 0.90 ${ok(w.ratio >= 0.9)}`),
      loadRow('opaque token, default config (`TOKEN_VERIFICATION=auto`)', w.defaultConfig, w.noAuth),
      'unavailable' in w.jwt
        ? row(['JWT, local verification', '—', '—', '—', '—', `not measured: ${w.jwt.unavailable.replaceAll('|', '/')}`])
        : loadRow('JWT, local verification (`TOKEN_VERIFICATION=jwt`)', w.jwt, w.noAuth, `${ratio(w.jwtRatio!)} × opaque cached`),
      '',
      '**2–3. Calls that reach the IDP**',
      '',
      row(['scenario', 'IDP calls', 'target', '', 'detail']),
      row(['---', '---:', '---:', '---', '---']),
      row([
        '500 concurrent first requests, one fresh token',
        s.singleFlight.introspections,
        1,
        ok(s.singleFlight.introspections === 1 && s.singleFlight.idpIntrospectLogLines === 1),
        `IDP logged ${s.singleFlight.idpIntrospectLogLines} introspection(s); ${s.singleFlight.coalesced} coalesced, ${s.singleFlight.cacheHits} cache hits; ${statuses(s.singleFlight.statuses)}`,
      ]),
      row([
        `${n(s.tokenLife.requests)} requests over ${s.tokenLife.virtualSeconds} s of a token's life`,
        s.tokenLife.introspections,
        s.tokenLife.expectedIntrospections,
        ok(s.tokenLife.introspections <= s.tokenLife.expectedIntrospections + 1 && s.tokenLife.non2xx === 0),
        `1 per ${s.tokenLife.cacheTtlSeconds} s cache lifetime (virtual clock in the verifier); ${s.tokenLife.non2xx} failed`,
      ]),
      row([
        '1,000 concurrent Solutrix → Service API calls, cold token cache',
        s.solutrix.tokenRequests,
        1,
        ok(s.solutrix.tokenRequests === 1 && s.solutrix.idpTokenLogLines === 1),
        `IDP logged ${s.solutrix.idpTokenLogLines} token request(s); Service API introspected ${s.solutrix.serviceApiIntrospections}×; ${statuses(s.solutrix.statuses)}`,
      ]),
      '',
    );
  }
  const i = r.idp;
  if (i) {
    const hello = capacity(i.hello);
    lines.push(
      '**4. IDP, one process** (÷ hello-world: share of this machine\'s node:http ceiling)',
      '',
      row(['endpoint', 'variant', 'req/s', 'p50 / p99 ms', 'server CPU / req', '÷ hello-world']),
      row(['---', '---', '---:', '---:', '---:', '---:']),
      row(['`node:http` hello-world', '—', n(i.hello.rps), `${i.hello.p50} / ${i.hello.p99}`, cpuCell(i.hello), '100 %']),
      ...Object.entries(i.introspection).map(([name, x]) => row(['`POST /oauth/introspect`', name, `${n(x.rps)}${failed(x) ? ` (${failed(x).trim()})` : ''}`, `${x.p50} / ${x.p99}`, cpuCell(x), pct(capacity(x) / hello)])),
      ...Object.entries(i.grants).map(([name, x]) => row(['`POST /oauth/token` client_credentials', name, `${n(x.rps)}${failed(x) ? ` (${failed(x).trim()})` : ''}`, `${x.p50} / ${x.p99}`, cpuCell(x), pct(capacity(x) / hello)])),
      '',
      row(['ratio', 'value', 'target']),
      row(['---', '---:', '---']),
      ...Object.entries(i.ratios).map(([name, x]) => {
        // A PostgreSQL replica is worth running when it does this share of what one SQLite IDP does.
        const postgresTarget: Record<string, number> = { 'introspection postgres ÷ sqlite': 0.6, 'grants postgres ÷ sqlite': 0.7 };
        const target = name.includes('sqlite ÷ memory')
          ? `≥ 1.00 ${ok(x >= 0.995)}`
          : name === 'introspection sqlite ÷ hello-world'
            ? `≥ 15 % ${ok(x >= 0.15)}`
            : postgresTarget[name] !== undefined
              ? `≥ ${postgresTarget[name].toFixed(2)} ${ok(x >= postgresTarget[name] - 0.005)}`
              : '';
        return row([name, name.includes('hello') ? pct(x) : ratio(x), target]);
      }),
      '',
    );
  }
  if (r.startup) {
    const { cold, warm } = r.startup;
    lines.push(
      '**5. `npm start` until "Stack ready"** (IDP healthy, seeded, Service API and Solutrix healthy)',
      '',
      row(['run', 'seconds (spawn → ready)', 'start.ts reports', 'target ≤ 5 s', 'milestones (s after spawn)']),
      row(['---', '---:', '---:', '---', '---']),
      row(['cold (fresh data dir)', cold.seconds.toFixed(1), cold.reported ?? '', ok(cold.seconds <= 5), milestones(cold)]),
      row(['warm (second start)', warm.seconds.toFixed(1), warm.reported ?? '', ok(warm.seconds <= 5), milestones(warm)]),
      '',
    );
  }
  const v = r.revocation;
  if (v) {
    const { latency: l, tokenLife: t } = v;
    lines.push(
      '**6. Revocation events (Shared Signals, REVOCATION_EVENTS=ssf)** — real IDP and Service API processes',
      '',
      row(['revocation → first 401 at the Service API', 'p50 ms', 'p99 ms', 'max ms', 'target', 'detail']),
      row(['---', '---:', '---:', '---:', '---', '---']),
      row([
        `${l.revocations} revocations, cache bound 600 s`,
        l.p50,
        l.p99,
        l.max,
        `< 1,000 ms ${ok(l.max < 1000 && l.notRefused === 0)}`,
        `${l.notRefused} not refused within 5 s; noise floor: one cached /v1/whoami round trip p50 ${l.floorP50} ms; events off: up to the cache bound (30 s)`,
      ]),
      '',
      row(['IDP introspections', 'events on', 'events off', 'target on', 'detail']),
      row(['---', '---:', '---:', '---', '---']),
      row([
        `${n(t.requests)} requests over ${t.runSeconds} s of a ${t.tokenLifeSeconds} s token`,
        t.on.introspections,
        t.off.introspections,
        `1 ${ok(t.on.introspections === 1 && t.on.non2xx === 0 && t.off.non2xx === 0 && t.on.unsent === 0 && t.off.unsent === 0)}`,
        `${t.scaled ? `time scaled ×${600 / t.tokenLifeSeconds}: ${t.tokenLifeSeconds} s token, cache bound ${t.cacheBoundSeconds} s (= 10 min with 30 s); ` : ''}off expected ≈ ${t.off.expected}; counted in the IDPs' request logs; on: ${statuses(t.on.statuses)}, ${t.on.unsent} unsent, run ${t.on.elapsedSeconds} s, at most ${t.on.maxBehindMs} ms behind schedule; off: ${statuses(t.off.statuses)}, ${t.off.unsent} unsent, run ${t.off.elapsedSeconds} s, at most ${t.off.maxBehindMs} ms behind`,
      ]),
      '',
    );
  }
  if (r.scale) lines.push(...scaleLines(r.scale));
  return lines.join('\n');
}

const mb = (bytes: number) => `${(bytes / 2 ** 20).toFixed(bytes < 10 * 2 ** 20 ? 1 : 0)} MB`;
const size = (n: number) => (n >= 1e6 && n % 1e6 === 0 ? `${n / 1e6}M` : n >= 1e3 && n % 1e3 === 0 ? `${n / 1e3}k` : String(n));
const cpuRatio = (a: LoadResult, b: LoadResult) => (a.cpuUsPerRequest && b.cpuUsPerRequest ? ratio(a.cpuUsPerRequest / b.cpuUsPerRequest) : '—');
const loadCells = (r: LoadResult) => `${cpuCell(r)} / ${r.p99} ms${failed(r) ? ` (${failed(r).trim()})` : ''}`;

/** Phase 7 (scale), one column per store and size: the figures read across as a curve. */
function scaleLines(s: ScaleResults): string[] {
  const steps = s.steps;
  const figure = (name: string, cell: (x: ScaleResults['steps'][number]) => string) => row([name, ...steps.map(cell)]);
  const lines = [
    '**7. Cost curve** (live tokens in the store, +10 % already expired; server CPU per request / p99)',
    '',
    row(['figure', ...steps.map((x) => `${x.store} ${size(x.liveTokens)}`)]),
    row(['---', ...steps.map(() => '---:')]),
    figure('database on disk', (x) => mb(x.databaseBytes)),
    figure('IDP start-up (fork → listening)', (x) => `${(x.startupMs / 1000).toFixed(2)} s`),
    figure('… of which opening the store', (x) => `${x.storeOpenMs} ms`),
    figure('IDP RSS idle / after the load runs', (x) => `${mb(x.rssIdleBytes)} / ${mb(x.rssAfterLoadBytes)}`),
    figure('introspection, one token', (x) => loadCells(x.introspectOne)),
    figure('introspection, any of the live tokens', (x) => loadCells(x.introspectAny)),
    figure('client_credentials grant', (x) => loadCells(x.grant)),
    // Each step's runs share a minute of the machine: CPU relative to the one-token run of the same
    // step cancels most of whatever else the machine ran then, unlike a figure compared across steps.
    figure('CPU: any token ÷ one token', (x) => cpuRatio(x.introspectAny, x.introspectOne)),
    figure('CPU: grant ÷ introspection of one token', (x) => cpuRatio(x.grant, x.introspectOne)),
    figure('one expiry purge', (x) => `${n(x.purge.purged)} rows in ${n(x.purge.ms)} ms`),
    figure('(filling the store)', (x) => `${x.fillSeconds} s`),
    '',
  ];
  if (s.serviceApi.length > 0) {
    lines.push(
      row(['Service API introspection cache', 'distinct tokens', 'introspections', 'evicted', 'held', 'RSS before', 'RSS after', '(after − before) ÷ held']),
      row(['---', '---:', '---:', '---:', '---:', '---:', '---:', '---:']),
      ...s.serviceApi.map((c) => {
        const held = c.introspections - c.evictions;
        return row([`bound ${n(c.bound)} (${c.bySetting})`, n(c.tokens), n(c.introspections), n(c.evictions), n(held), mb(c.rssBeforeBytes), mb(c.rssAfterBytes), `${n((c.rssAfterBytes - c.rssBeforeBytes) / held)} B`]);
      }),
      '',
    );
  }
  return lines;
}
