// Bytes an OSTree system update costs through the agent's pull path: a tree of N files
// deployed into a sysroot (on a loop-mounted ext4 of its own), then the same tree with one
// file changed. Bytes are counted at a proxy in front of the Image repository's /ostree/.
//
//   npm run bench:ostree -- [--files 500] [--size 8192]   (root: loop devices and mounts)
import { parseArgs } from 'node:util';
import { createLoopMount } from '../../test/helpers/loop-sysroot.ts';
import { randomFiles } from '../../test/helpers/os-tree.ts';
import { startSysrootRig } from '../../test/helpers/ostree-sysroot-rig.ts';

const { values } = parseArgs({
  options: { files: { type: 'string', default: '500' }, size: { type: 'string', default: '8192' } },
});
const count = Number(values.files);
const size = Number(values.size);

const disk = await createLoopMount(1024);
try {
  const s = await startSysrootRig(disk);
  try {
    const files = randomFiles(count, size);
    const measure = async (name: string, tree: Record<string, Uint8Array>) => {
      s.rig.proxy.reset();
      await s.releaseTree(name, { motd: name, files: tree });
      const started = performance.now();
      const { telemetry } = await s.rig.update(name);
      const outcome = telemetry.at(-1)?.phase;
      if (outcome !== 'committed')
        throw new Error(`${name} ended ${outcome}: ${JSON.stringify(telemetry.at(-1))}`);
      return {
        bytes: s.rig.proxy.stats.ostreeBytes,
        requests: s.rig.proxy.stats.ostreeRequests,
        ms: performance.now() - started,
      };
    };
    const whole = await measure('os-1', files);
    const [changed] = Object.keys(files);
    const delta = await measure('os-2', { ...files, [changed!]: randomFiles(1, size)['file-0.bin']! });
    const kb = (bytes: number) => `${(bytes / 1024).toFixed(1)} KiB`;
    console.log(
      `OSTree system update, tree of ${count} random files of ${size} bytes (${kb(count * size)}):`,
    );
    console.log(
      `  first deployment: ${kb(whole.bytes)} in ${whole.requests} requests, ${whole.ms.toFixed(0)} ms`,
    );
    console.log(
      `  one file changed: ${kb(delta.bytes)} in ${delta.requests} requests, ${delta.ms.toFixed(0)} ms ` +
        `(${((100 * delta.bytes) / whole.bytes).toFixed(2)}% of the first)`,
    );
  } finally {
    await s.rig.close();
  }
} finally {
  await disk.remove();
}
