// `tsx bench/profileSummary.ts FILE.cpuprofile [top]`: where a V8 CPU profile spends its time —
// self time by function and by package (or project folder), idle and GC listed apart.
import { readFileSync } from 'node:fs';

type Node = { id: number; callFrame: { functionName: string; url: string; lineNumber: number }; hitCount?: number; children?: number[] };
const [file, topArg] = process.argv.slice(2);
if (!file) throw new TypeError('usage: profileSummary.ts FILE.cpuprofile [top]');
const profile = JSON.parse(readFileSync(file, 'utf8')) as { nodes: Node[]; samples: number[]; timeDeltas: number[] };
const top = Number(topArg ?? 25);

const byId = new Map(profile.nodes.map((n) => [n.id, n]));
const selfUs = new Map<number, number>();
profile.samples.forEach((id, i) => selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)));
const isIdle = (id: number) => byId.get(id)!.callFrame.functionName === '(idle)';
const all = [...selfUs.values()].reduce((a, b) => a + b, 0);
const total = [...selfUs].reduce((a, [id, us]) => a + (isIdle(id) ? 0 : us), 0);

const group = (url: string) => {
  if (!url) return '(native/internal)';
  const nm = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (nm) return nm[1]!;
  if (url.startsWith('node:')) return url;
  const m = /\/work\/[^/]+\/(.*)$/.exec(url.replace('file://', ''));
  return m ? m[1]!.split('/').slice(0, -1).join('/') || m[1]! : url;
};
const fn = new Map<string, number>();
const pkg = new Map<string, number>();
for (const [id, us] of selfUs) {
  if (isIdle(id)) continue;
  const { functionName, url, lineNumber } = byId.get(id)!.callFrame;
  const name = `${functionName || '(anonymous)'} ${url ? `${url.replace(/^.*node_modules\//, '').replace(/^file:\/\/\/work\/[^/]+\//, '')}:${lineNumber + 1}` : ''}`;
  fn.set(name, (fn.get(name) ?? 0) + us);
  pkg.set(group(url), (pkg.get(group(url)) ?? 0) + us);
}
const show = (title: string, m: Map<string, number>) => {
  console.log(`\n${title}`);
  for (const [k, v] of [...m].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`${((v / total) * 100).toFixed(1).padStart(5)} %  ${k}`);
};
process.stdout.on('error', () => process.exit(0));
console.log(`${file}: ${(all / 1e6).toFixed(1)} s sampled, ${(total / 1e6).toFixed(1)} s busy (percentages of busy time)`);
show('self time by package / folder', pkg);
show('self time by function', fn);
