// npm run bench:agent — the device agent's memory footprint: idle RSS, and RSS
// growth through a 256 MB update. Prints figures, never fails on them.
import { randomFillSync } from 'node:crypto';
import { rmSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { median } from '../stats.ts';
import { killAllChildren } from './agent-process.ts';
import { benchmarkRun, type RunFigures } from './agent-run.ts';

const USAGE = `npm run bench:agent -- [options]

Runs the device agent (bin/uproll-agent.js --no-cloud, A/B slots) as a child
process against simulated repositories on 127.0.0.1, once per run:
  1. publishes revision 1.0 (one small artifact) and 2.0 (one large artifact),
     enrolls a device and assigns it 1.0;
  2. starts the agent, has it install 1.0 through its control socket, then takes
     its idle RSS (median of VmRSS sampled every 50 ms for 2 s);
  3. assigns 2.0, has it install that, and takes its peak RSS from the command to
     the commit (VmHWM, reset just before; VmRSS sampled every 50 ms as a check).
Growth = peak - idle. A bare \`node -e 'setInterval(...)'\` on the same Node is the
in-run baseline. Prints medians over the runs and ratios against the targets:
idle RSS under ${60} MB, growth under ${20} MB during a 256 MB update (MB = 2^20 bytes).

Options:
  --runs N     runs (default 3)
  --size MB    size of the large artifact (default 256)
  --json       print the figures as JSON
  --help       this text`;

const TARGET_IDLE_MB = 60;
const TARGET_GROWTH_MB = 20;
const MB = 1024 * 1024;

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '3' },
    size: { type: 'string', default: '256' },
    json: { type: 'boolean', default: false },
    help: { type: 'boolean', default: false },
  },
  strict: true,
});
if (values.help) {
  console.log(USAGE);
  process.exit(0);
}
const runs = Number(values.runs);
const sizeMb = Number(values.size);
if (!Number.isInteger(runs) || runs < 1 || !Number.isInteger(sizeMb) || sizeMb < 1) {
  console.error(`--runs and --size are whole numbers of at least 1\n\n${USAGE}`);
  process.exit(2);
}

// An interrupt skips the runs' own clean-up (their finally blocks): do it here.
let tempDir: string | undefined;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    killAllChildren();
    if (tempDir) rmSync(tempDir, { recursive: true, force: true });
    process.exit(130);
  });
}

// The large artifact: random (no two blocks alike), made once, served by each run's fresh repository.
const artifact = randomFillSync(Buffer.allocUnsafe(sizeMb * MB));
const perRun: RunFigures[] = [];
try {
  for (let run = 0; run < runs; run++) {
    perRun.push(await benchmarkRun(artifact, (dir) => (tempDir = dir)));
    if (!values.json) console.error(`run ${run + 1}/${runs} done`);
  }
} catch (err) {
  console.error(`bench:agent: ${(err as Error).stack ?? String(err)}`);
  process.exit(1);
}

const mb = (kb: number) => kb / 1024;
const series = {
  bareNodeMb: perRun.map((r) => mb(r.bareNodeKb)),
  idleMb: perRun.map((r) => mb(r.idleKb)),
  idleOverBareMb: perRun.map((r) => mb(r.idleKb - r.bareNodeKb)),
  peakMb: perRun.map((r) => mb(r.peakKb)),
  growthMb: perRun.map((r) => mb(r.peakKb - r.idleKb)),
  afterMb: perRun.map((r) => mb(r.afterKb)),
  updateSeconds: perRun.map((r) => r.updateSeconds),
  downloadSeconds: perRun.flatMap((r) => (r.downloadSeconds === undefined ? [] : [r.downloadSeconds])),
  installSeconds: perRun.flatMap((r) => (r.installSeconds === undefined ? [] : [r.installSeconds])),
  mbPerSecond: perRun.map((r) => sizeMb / r.updateSeconds),
};
const medians = Object.fromEntries(Object.entries(series).map(([k, v]) => [k, median(v)])) as Record<
  keyof typeof series,
  number
>;
const ratios = {
  idleOverTarget: medians.idleMb / TARGET_IDLE_MB,
  growthOverTarget: medians.growthMb / TARGET_GROWTH_MB,
};

if (values.json) {
  console.log(
    JSON.stringify(
      {
        runs,
        artifactMb: sizeMb,
        node: process.version,
        targets: { idleMb: TARGET_IDLE_MB, growthMb: TARGET_GROWTH_MB },
        medians,
        ratios,
        perRun,
      },
      null,
      2,
    ),
  );
} else {
  const row = (label: string, values: number[], digits: number, unit: string) =>
    console.log(
      `  ${label.padEnd(38)}${median(values).toFixed(digits).padStart(8)} ${unit.padEnd(5)}` +
        `(runs: ${values.map((v) => v.toFixed(digits)).join(', ')})`,
    );
  const peakSource = perRun.every((r) => r.peakSource === 'VmHWM') ? 'VmHWM' : 'sampled VmRSS';
  console.log(
    `Device agent memory (uproll-agent --no-cloud, A/B slots, Node ${process.version}; ` +
      `${runs} runs, medians; update of one ${sizeMb} MB artifact; MB = 2^20 bytes)`,
  );
  row('bare node process RSS', series.bareNodeMb, 1, 'MB');
  row('agent idle RSS', series.idleMb, 1, 'MB');
  row('agent idle RSS - bare node', series.idleOverBareMb, 1, 'MB');
  row(`agent peak RSS during update (${peakSource})`, series.peakMb, 1, 'MB');
  row('growth during update (peak - idle)', series.growthMb, 1, 'MB');
  row('agent RSS after the update', series.afterMb, 1, 'MB');
  row('update, command to commit', series.updateSeconds, 2, 's');
  if (series.downloadSeconds.length) row('  verify metadata + download', series.downloadSeconds, 2, 's');
  if (series.installSeconds.length) row('  re-check + write slot + switch', series.installSeconds, 2, 's');
  row('throughput (download + verify + write)', series.mbPerSecond, 0, 'MB/s');
  console.log(
    `  ratio idle RSS / ${TARGET_IDLE_MB} MB:        ${ratios.idleOverTarget.toFixed(2)}   (target: under 1)`,
  );
  console.log(
    `  ratio growth / ${TARGET_GROWTH_MB} MB:          ${ratios.growthOverTarget.toFixed(2)}   (target: under 1)`,
  );
}
