// The scale stack's proxy under a replica outage: steady traffic through HAProxy while one replica is
// stopped with `docker stop` and started again. Proves that the proxy takes the replica out (its own log
// says so), that no request fails once it has, and that the replica is put back when it returns.
// Failures between the stop and the proxy noticing it are counted and reported, not hidden.
import { sleep } from '../support/wait.ts';
import { run } from './run.ts';
import { basic, form, http, type Stack } from './stack.ts';

type Sample = { started: number; ok: boolean; upstream: string; detail: string };

/** Sequential requests from `workers` loops until stop() — bounded by `maxMs` whatever happens. */
function steadyLoad(send: () => Promise<{ ok: boolean; upstream: string; detail: string }>, workers = 2, maxMs = 180_000) {
  const samples: Sample[] = [];
  let stopped = false;
  const deadline = Date.now() + maxMs;
  const loops = Array.from({ length: workers }, async () => {
    while (!stopped && Date.now() < deadline) {
      const started = Date.now();
      try {
        samples.push({ started, ...(await send()) });
      } catch (err) {
        samples.push({ started, ok: false, upstream: '(none)', detail: (err as Error).cause ? String((err as Error & { cause: unknown }).cause) : (err as Error).message });
      }
      await sleep(20);
    }
  });
  return {
    samples,
    async stop() {
      stopped = true;
      await Promise.all(loops);
    },
  };
}

/** Waits until the container's log (since `since`, a unix time in s) matches `pattern`; returns when it was seen. */
async function waitForLog(container: string, since: number, pattern: RegExp, ms: number): Promise<number> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    const logs = await run('docker', ['logs', '--since', String(since), container], { timeoutMs: 15_000 });
    if (pattern.test(`${logs.stdout}\n${logs.stderr}`)) return Date.now();
    await sleep(200);
  }
  const logs = await run('docker', ['logs', '--since', String(since), container], { timeoutMs: 15_000 });
  const tail = `${logs.stdout}\n${logs.stderr}`.trim().split('\n').slice(-20).join('\n');
  throw new Error(`${pattern} not in the log of ${container} after ${ms / 1000} s; its last lines:\n${tail}`);
}

export type FailoverReport = {
  requests: number;
  failedBeforeNoticed: number;
  failedAfterNoticed: number;
  noticedAfterMs: number;
  backAfterMs: number;
};

export async function proxyFailover(options: { stack: Stack; idp: string; clientId: string; secret: string; token: string; replica: string; other: string }): Promise<FailoverReport> {
  const { stack, idp, clientId, secret, token, replica, other } = options;
  const proxy = await stack.containerId('idp');
  const victim = await stack.containerId(replica);
  if (!proxy || !victim) throw new Error(`no container for the proxy or ${replica}`);
  const load = steadyLoad(async () => {
    const res = await http(`${idp}/oauth/introspect`, form({ token }, basic(clientId, secret)));
    const upstream = res.headers.get('x-upstream') ?? '(none)';
    return { ok: res.status === 200 && res.json.active === true, upstream, detail: `${res.status} ${res.text.slice(0, 120)}` };
  });
  try {
    await sleep(1000);
    const since = Math.floor(Date.now() / 1000) - 1;
    const stopAt = Date.now();
    await run('docker', ['stop', '--time', '10', victim], { timeoutMs: 60_000 });
    // The health check's verdict: "Server replicas/idp-a is DOWN, reason: Layer4 connection problem ...".
    // (Not "is going DOWN for maintenance", which DNS says once the container is gone: that would take
    // the replica out even without health checks.)
    const noticedAt = await waitForLog(proxy, since, new RegExp(`Server replicas/${replica} is DOWN, reason: Layer[4-7]`), 30_000);
    await sleep(3000);
    const restartAt = Date.now();
    await run('docker', ['start', victim], { timeoutMs: 60_000 });
    let backAt: number | undefined;
    const deadline = Date.now() + 90_000;
    while (Date.now() < deadline && backAt === undefined) {
      await sleep(250);
      backAt = load.samples.find((s) => s.started > restartAt && s.ok && s.upstream === replica)?.started;
    }
    if (backAt === undefined) throw new Error(`${replica} did not answer through the proxy within 90 s of docker start`);
    await sleep(3000);
    await load.stop();

    const samples = load.samples;
    const between = samples.filter((s) => s.started >= stopAt && s.started < noticedAt);
    const afterNotice = samples.filter((s) => s.started >= noticedAt && s.started < restartAt);
    const afterBack = samples.filter((s) => s.started >= backAt!);
    const failed = samples.filter((s) => !s.ok);
    const report: FailoverReport = {
      requests: samples.length,
      failedBeforeNoticed: between.filter((s) => !s.ok).length,
      failedAfterNoticed: samples.filter((s) => s.started >= noticedAt && !s.ok).length,
      noticedAfterMs: noticedAt - stopAt,
      backAfterMs: backAt - restartAt,
    };
    console.log(
      `  failover: ${report.requests} requests; ${replica} stopped, taken out after ${report.noticedAfterMs} ms ` +
        `(${between.length} requests meanwhile, ${report.failedBeforeNoticed} failed), ${afterNotice.length} requests while out ` +
        `(${afterNotice.filter((s) => !s.ok).length} failed), answering again ${report.backAfterMs} ms after docker start; ` +
        `failures after the proxy noticed: ${report.failedAfterNoticed}`,
    );
    const states = await run('docker', ['logs', '--since', String(since), proxy], { timeoutMs: 15_000 });
    const lines = `${states.stdout}\n${states.stderr}`.split('\n').filter((l) => l.includes(`replicas/${replica}`) && !l.includes('HTTP/'));
    console.log(`  the proxy's log about ${replica}:\n${lines.map((l) => `    ${l.trim()}`).join('\n')}`);
    if (failed.length) console.log(`  failed requests: ${JSON.stringify(failed.slice(0, 5).map((s) => s.detail))}`);
    if (report.failedAfterNoticed > 0) throw new Error(`${report.failedAfterNoticed} requests failed after the proxy had taken ${replica} out`);
    if (afterNotice.length < 10) throw new Error(`too few requests while ${replica} was out (${afterNotice.length})`);
    const strays = afterNotice.filter((s) => s.upstream !== other);
    if (strays.length) throw new Error(`while ${replica} was out, ${strays.length} answers came from ${JSON.stringify([...new Set(strays.map((s) => s.upstream))])}`);
    const backShare = afterBack.filter((s) => s.upstream === replica).length;
    if (backShare < 3 || afterBack.filter((s) => s.upstream === other).length < 3) {
      throw new Error(`after ${replica} returned, round robin did not resume (${backShare} of ${afterBack.length} answers from it)`);
    }
    return report;
  } finally {
    await load.stop();
  }
}
