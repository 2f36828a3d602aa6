// Where a process's CPU went, from a V8 CPU profile (node --cpu-prof), within
// a time window (the `windowUs` bench:rollout prints with --json):
//   node bench/rollout/profile-summary.ts PROFILE.cpuprofile [--from µs --to µs] [--top N]
// Prints self time by package/module and, for each sample, the nearest frame
// of the project's own code on its stack (what called into the libraries).
import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  samples: number[];
  timeDeltas: number[];
}

const { values, positionals } = parseArgs({
  options: { from: { type: 'string' }, to: { type: 'string' }, top: { type: 'string', default: '25' } },
  allowPositionals: true,
});
const [file] = positionals;
if (!file) {
  console.error(
    'usage: node bench/rollout/profile-summary.ts PROFILE.cpuprofile [--from µs --to µs] [--top N]',
  );
  process.exit(2);
}
const profile = JSON.parse(await readFile(file, 'utf8')) as CpuProfile;
const from = Number(values.from ?? -Infinity);
const to = Number(values.to ?? Infinity);
const top = Number(values.top);

const byId = new Map(profile.nodes.map((node) => [node.id, node]));
const parentOf = new Map<number, number>();
for (const node of profile.nodes) for (const child of node.children ?? []) parentOf.set(child, node.id);
const root = process.cwd();

/** The package or project module a frame belongs to. */
function moduleOf(node: ProfileNode): string {
  const { url, functionName } = node.callFrame;
  if (!url) return functionName.startsWith('(') ? functionName : '(native/builtin)';
  if (url.startsWith('node:')) return 'node internals';
  const inModules = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (inModules) return inModules[1]!;
  const path = url.replace(/^file:\/\//, '');
  if (!path.startsWith(root)) return `other: ${path.slice(0, 60)}`;
  return path.slice(root.length + 1);
}
const isProject = (module: string) => /^[a-z-]+\/.*\.ts$/.test(module);

const self = new Map<string, number>();
const caller = new Map<string, number>();
const folders = new Map<string, number>();
const functions = new Map<string, number>();
let total = 0;
let at = profile.startTime;
for (let i = 0; i < profile.samples.length; i++) {
  at += profile.timeDeltas[i] ?? 0;
  if (at < from || at > to) continue;
  const dt = profile.timeDeltas[i + 1] ?? 0; // a sample stands for the time until the next one
  const node = byId.get(profile.samples[i]!);
  if (!node) continue;
  const module = moduleOf(node);
  if (module === '(idle)') continue;
  total += dt;
  self.set(module, (self.get(module) ?? 0) + dt);
  const fn = `${node.callFrame.functionName || '(anonymous)'} ${module}:${node.callFrame.lineNumber + 1}`;
  functions.set(fn, (functions.get(fn) ?? 0) + dt);
  let owner = 'no project frame';
  for (let id: number | undefined = node.id; id !== undefined; id = parentOf.get(id)) {
    const frame = byId.get(id)!;
    const m = moduleOf(frame);
    if (isProject(m)) {
      owner = `${m} ${frame.callFrame.functionName || '(anonymous)'}`;
      break;
    }
  }
  caller.set(owner, (caller.get(owner) ?? 0) + dt);
  const folder = owner.split('/').slice(0, -1).join('/') || owner;
  folders.set(folder, (folders.get(folder) ?? 0) + dt);
}

const print = (title: string, map: Map<string, number>) => {
  console.log(title);
  for (const [name, us] of [...map].sort((a, b) => b[1] - a[1]).slice(0, top))
    console.log(
      `  ${((100 * us) / total).toFixed(1).padStart(5)}%  ${(us / 1000).toFixed(0).padStart(7)} ms  ${name}`,
    );
};
console.log(`${file}: ${(total / 1000).toFixed(0)} ms on CPU in the window (idle left out)`);
print('self time by module', self);
print('by folder of the nearest project frame on the stack', folders);
print('by nearest project frame on the stack', caller);
print('self time by function', functions);
