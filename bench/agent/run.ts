// npm run bench:agent — the device agent's footprint: idle RSS and RSS through a large
// update, from its sources and as the agent-only bundle; the bundle's install size; and
// SWUpdate writing the same image. Prints figures, never fails on them.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { buildAgent } from '../../release/agent/build.ts';
import { AGENT_GLIBC_TUNABLES, AGENT_NODE_FLAGS } from '../../release/agent/launcher.ts';
import { bundledAgent, killAllChildren, SOURCE_AGENT, type AgentLaunch } from './agent-process.ts';
import { benchmarkRun, type RunFigures } from './agent-run.ts';
import { makeOsImage } from './ext4-image.ts';
import { IMAGE_INSTALL } from './image-release.ts';
import { installSize } from './install-size.ts';
import { runPeers } from './peers.ts';
import { printReport, type Report } from './report.ts';

const USAGE = `npm run bench:agent -- [options]

Builds the agent-only bundle (release/agent/build.ts) into a temp dir and makes an
ext4 image (mkfs.ext4 -d, 80% random data). Then, once per run and for each of the
agent from its sources (bin/uproll-agent.js, type-stripped) and the bundle (its
launcher, with ${AGENT_NODE_FLAGS.join(' ')} and GLIBC_TUNABLES=${AGENT_GLIBC_TUNABLES}),
against simulated repositories on 127.0.0.1:
  1. publishes revision 1.0 (one small artifact) and 2.0 (the image), enrolls a
     device and assigns it 1.0;
  2. starts the agent (--no-cloud), has it install 1.0 through its control socket,
     then takes its idle RSS (median of VmRSS sampled every 50 ms for 2 s);
  3. assigns 2.0, has it install that, and takes its peak RSS from the command to
     the commit (VmHWM, reset just before; VmRSS sampled every 50 ms as a check).
Then the peers write the same image into a file slot: SWUpdate from a signed .swu,
from the file (-i) and streamed from 127.0.0.1 (-d), peak RSS by /usr/bin/time -v;
RAUC from a signed plain bundle, through its service on a private D-Bus, peak RSS
of the service (VmHWM, reset before each install).
Growth = peak - idle. A bare \`node -e 'setInterval(...)'\` is the in-run baseline.
Prints medians over the runs and ratios against the targets: idle RSS under 60 MB,
growth under 20 MB during the update, the install under 30 MB (MB = 2^20 bytes).

Options:
  --runs N         runs (default 3)
  --size MB        size of the image (default 256)
  --no-swupdate    skip SWUpdate
  --no-rauc        skip RAUC
  --json           print the figures as JSON
  --help           this text`;

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '3' },
    size: { type: 'string', default: '256' },
    'no-swupdate': { type: 'boolean', default: false },
    'no-rauc': { type: 'boolean', default: false },
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
if (!Number.isInteger(runs) || runs < 1 || !Number.isInteger(sizeMb) || sizeMb < 16) {
  console.error(`--runs is a whole number of at least 1, --size one of at least 16\n\n${USAGE}`);
  process.exit(2);
}

// An interrupt skips the runs' own clean-up (their finally blocks): do it here.
const tempDirs = new Set<string>();
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    killAllChildren();
    void Promise.all([...tempDirs].map((dir) => rm(dir, { recursive: true, force: true }))).then(() =>
      process.exit(130),
    );
  });
}
const progress = (line: string) => values.json || console.error(line);

const root = await mkdtemp(join(tmpdir(), 'uproll-bench-footprint-'));
tempDirs.add(root);
try {
  const build = await buildAgent(join(root, 'install'));
  const image = await makeOsImage(root, sizeMb);
  const launches: AgentLaunch[] = [SOURCE_AGENT, bundledAgent(build.launcher)];
  const agents: Record<string, RunFigures[]> = Object.fromEntries(launches.map((l) => [l.label, []]));
  // Interleaved, so drift on a shared machine touches both alike.
  for (let run = 0; run < runs; run++)
    for (const launch of launches) {
      agents[launch.label]!.push(await benchmarkRun(launch, image.bytes, (dir) => tempDirs.add(dir)));
      progress(`run ${run + 1}/${runs}: ${launch.label} agent done`);
    }

  const peers = await runPeers(
    root,
    image.bytes,
    runs,
    { swupdate: values['no-swupdate'], rauc: values['no-rauc'] },
    progress,
  );

  const report: Report = {
    runs,
    sizeMb,
    image: image.description,
    imageInstall: IMAGE_INSTALL.description,
    node: process.version,
    bundleSettings: `${AGENT_NODE_FLAGS.join(' ')}, GLIBC_TUNABLES=${AGENT_GLIBC_TUNABLES}`,
    agents,
    install: installSize(build),
    parts: build.parts,
    peers,
  };
  if (values.json) console.log(JSON.stringify(report, null, 2));
  else printReport(report);
} catch (err) {
  console.error(`bench:agent: ${(err as Error).stack ?? String(err)}`);
  process.exitCode = 1;
} finally {
  await rm(root, { recursive: true, force: true });
}
