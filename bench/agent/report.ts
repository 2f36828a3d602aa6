// The figures bench:agent prints: medians over the runs, each run's values, and
// ratios against the targets and against the in-run baselines.
import { median } from '../stats.ts';
import type { RunFigures } from './agent-run.ts';
import type { InstallSize } from './install-size.ts';
import type { PeerResults } from './peers.ts';

const TARGET_IDLE_MB = 60;
const TARGET_GROWTH_MB = 20;
const TARGET_INSTALL_MB = 30;
const MB = 1024 * 1024;

export interface Report {
  runs: number;
  sizeMb: number;
  image: string;
  imageInstall: string;
  node: string;
  bundleSettings: string;
  /** Per agent launch (`source`, `bundle`), one entry per run. */
  agents: Record<string, RunFigures[]>;
  install: InstallSize;
  parts: [string, number][];
  peers: PeerResults;
}

/** The series of one agent launch, in MB and seconds. */
export function seriesOf(perRun: RunFigures[], sizeMb: number) {
  const mb = (kb: number) => kb / 1024;
  const defined = (values: (number | undefined)[]) => values.filter((v): v is number => v !== undefined);
  return {
    bareNodeMb: perRun.map((r) => mb(r.bareNodeKb)),
    startSeconds: perRun.map((r) => r.startSeconds),
    idleMb: perRun.map((r) => mb(r.idleKb)),
    idleOverBareMb: perRun.map((r) => mb(r.idleKb - r.bareNodeKb)),
    idleAnonMb: perRun.map((r) => mb(r.idleAnonKb)),
    idleFileMb: perRun.map((r) => mb(r.idleFileKb)),
    peakMb: perRun.map((r) => mb(r.peakKb)),
    growthMb: perRun.map((r) => mb(r.peakKb - r.idleKb)),
    afterMb: perRun.map((r) => mb(r.afterKb)),
    updateSeconds: perRun.map((r) => r.updateSeconds),
    downloadSeconds: defined(perRun.map((r) => r.downloadSeconds)),
    installSeconds: defined(perRun.map((r) => r.installSeconds)),
    mbPerSecond: perRun.map((r) => sizeMb / r.updateSeconds),
  };
}

const ROWS: [keyof ReturnType<typeof seriesOf>, string, number, string][] = [
  ['bareNodeMb', 'bare node process RSS', 1, 'MB'],
  ['startSeconds', 'start, spawn to ready', 2, 's'],
  ['idleMb', 'agent idle RSS', 1, 'MB'],
  ['idleOverBareMb', 'agent idle RSS - bare node', 1, 'MB'],
  ['idleAnonMb', '  private (RssAnon)', 1, 'MB'],
  ['idleFileMb', '  node binary and other files (RssFile)', 1, 'MB'],
  ['peakMb', 'agent peak RSS during update (VmHWM)', 1, 'MB'],
  ['growthMb', 'growth during update (peak - idle)', 1, 'MB'],
  ['afterMb', 'agent RSS after the update', 1, 'MB'],
  ['updateSeconds', 'update, command to commit (raw image: to its reboot)', 2, 's'],
  ['downloadSeconds', '  verify metadata + download', 2, 's'],
  ['installSeconds', '  re-check + write slot + switch', 2, 's'],
  ['mbPerSecond', 'throughput (download + verify + write)', 0, 'MB/s'],
];

export function printReport(report: Report): void {
  const labels = Object.keys(report.agents);
  const series = Object.fromEntries(
    labels.map((label) => [label, seriesOf(report.agents[label]!, report.sizeMb)]),
  );
  const [base, other] = labels;
  const cell = (values: number[], digits: number) => (values.length ? median(values).toFixed(digits) : '-');
  const runsOf = (values: number[], digits: number) => values.map((v) => v.toFixed(digits)).join(', ');

  console.log(
    `Device agent memory (uproll-agent --no-cloud, ${report.imageInstall}; Node ${report.node}; ` +
      `${report.runs} runs, medians; update to ${report.image}; MB = 2^20 bytes)`,
  );
  console.log(`bundle = the agent-only bundle through its launcher (${report.bundleSettings})`);
  console.log(
    `  ${''.padEnd(40)}${labels.map((l) => l.padStart(9)).join('')}  ${`${other}/${base}`.padStart(13)}`,
  );
  for (const [key, label, digits, unit] of ROWS) {
    const columns = labels.map((l) => cell(series[l]![key], digits).padStart(9)).join('');
    const a = series[base!]![key];
    const b = series[other!]?.[key];
    const ratio = b?.length && a.length ? (median(b) / median(a)).toFixed(2) : '-';
    const perRun = labels.map((l) => `${l}: ${runsOf(series[l]![key], digits)}`).join('; ');
    console.log(`  ${label.padEnd(40)}${columns} ${unit.padEnd(5)}${ratio.padStart(7)}   (${perRun})`);
  }
  for (const label of labels) {
    const s = series[label]!;
    console.log(
      `  ${label}: idle RSS / ${TARGET_IDLE_MB} MB = ${(median(s.idleMb) / TARGET_IDLE_MB).toFixed(2)}, ` +
        `growth / ${TARGET_GROWTH_MB} MB = ${(median(s.growthMb) / TARGET_GROWTH_MB).toFixed(2)}   (targets: under 1)`,
    );
  }
  printInstall(report);
  printPeers(report, series);
}

function printInstall({ install, parts }: Report): void {
  const mb = (bytes: number) => `${(bytes / MB).toFixed(2).padStart(8)} MB`;
  console.log("\nThe agent on a device's disk (MB = 2^20 bytes)");
  for (const [name, bytes] of Object.entries(install.files)) console.log(`  ${name.padEnd(44)}${mb(bytes)}`);
  console.log(
    `  ${'agent install (no node_modules)'.padEnd(44)}${mb(install.installBytes)}   ` +
      `/ ${TARGET_INSTALL_MB} MB = ${(install.installBytes / MB / TARGET_INSTALL_MB).toFixed(3)}`,
  );
  console.log(`  ${`node binary (${install.node.path})`.padEnd(44)}${mb(install.node.bytes)}`);
  const total = install.installBytes + install.node.bytes;
  console.log(
    `  ${'agent install + this node binary'.padEnd(44)}${mb(total)}   ` +
      `/ ${TARGET_INSTALL_MB} MB = ${(total / MB / TARGET_INSTALL_MB).toFixed(2)}`,
  );
  if (install.nodeModulesBytes !== undefined)
    console.log(`  ${"today: the checkout's node_modules".padEnd(44)}${mb(install.nodeModulesBytes)}`);
  if (install.debian.length) {
    const [nodejs] = install.debian;
    const total = install.debian.reduce((sum, p) => sum + p.installedBytes, 0);
    const each = install.debian.map((p) => `${p.name} ${(p.installedBytes / MB).toFixed(1)}`).join(' + ');
    console.log(
      `  Debian's nodejs ${nodejs!.version} (apt metadata, installed): ${each} = ${(total / MB).toFixed(1)} MB` +
        ` (the agent needs Node >= 24)`,
    );
  }
  const top = parts.slice(0, 6).map(([name, bytes]) => `${name} ${(bytes / 1024).toFixed(0)} KiB`);
  console.log(`  bundle's largest parts: ${top.join(', ')}`);
}

function printPeers(report: Report, series: Record<string, ReturnType<typeof seriesOf>>): void {
  console.log(`\nThe same image installed by the peers and by Uproll (${report.runs} runs, medians)`);
  const row = (label: string, seconds: number[], peakMb: number[], note: string) =>
    console.log(
      `  ${label.padEnd(46)}${median(seconds).toFixed(2).padStart(7)} s ${median(peakMb).toFixed(1).padStart(7)} MB` +
        `   ${note} (runs: ${seconds.map((s) => s.toFixed(2)).join(', ')} s)`,
    );
  console.log(`  ${''.padEnd(46)}${'install'.padStart(9)} ${'peak RSS'.padStart(10)}`);
  for (const { label, figures } of report.peers.series)
    if (figures.length)
      row(
        label,
        figures.map((f) => f.seconds),
        figures.map((f) => f.peakKb / 1024),
        figures[0]!.peakSource,
      );
  for (const [label, s] of Object.entries(series))
    row(`uproll-agent, ${label} (Uptane, from 127.0.0.1)`, s.updateSeconds, s.peakMb, 'VmHWM');
  for (const line of report.peers.missing) console.log(`  ${line}`);
}
