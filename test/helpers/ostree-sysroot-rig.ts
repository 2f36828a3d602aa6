import { readdir, readFile, realpath } from 'node:fs/promises';
import { join } from 'node:path';
import { OstreeSystemInstaller, type UpdateManagerOptions } from '../../agent/index.ts';
import type { HealthCheckInput } from '../../core/index.ts';
import { ImageOstreeRepo } from '../../services/image-repo/index.ts';
import { startAgentRig } from './agent-rig.ts';
import type { LoopMount } from './loop-sysroot.ts';
import { writeOsTree } from './os-tree.ts';

export const TEST_OS = 'uproll';
export const TEST_REF = 'uproll/test-board';

/**
 * An agent rig (real Image repository and Director over HTTP, counting
 * proxy) whose device deploys into a fresh OSTree sysroot on `disk`, pulling
 * from the Image repository's OSTree repository through the proxy.
 */
export async function startSysrootRig(
  disk: LoopMount,
  options: Pick<UpdateManagerOptions, 'onBoundary'> = {},
) {
  const sysroot = await disk.sysroot(TEST_OS);
  let installer: OstreeSystemInstaller | undefined;
  const rig = await startAgentRig({
    ...options,
    installer: ({ ostreeUrl }) =>
      (installer = new OstreeSystemInstaller({ sysroot, os: TEST_OS, remoteUrl: ostreeUrl })),
  });
  const ostreeRepo = new ImageOstreeRepo(rig.repos.image.dir);
  return {
    /** The agent rig (its `manager` getter follows restarts). */
    rig,
    sysroot,
    ostreeRepo,
    get installer(): OstreeSystemInstaller {
      if (!installer) throw new Error('no installer yet');
      return installer;
    },
    /** Commits a deployable tree into the Image repository's OSTree repo and releases a revision naming it. */
    async releaseTree(
      name: string,
      tree: { motd: string; files?: Record<string, Uint8Array> },
      options: { health?: HealthCheckInput } = {},
    ): Promise<string> {
      const dir = join(rig.root, `tree-${name}`);
      await writeOsTree(dir, tree);
      const commit = await ostreeRepo.commitTree(dir, { parentRef: TEST_REF, subject: name });
      await rig.release(name, [], { ostree: { commit, ref: TEST_REF }, ...options });
      await ostreeRepo.setRef(TEST_REF, commit);
      return commit;
    },
    /** The BLS entries, the one that boots first first, each with the deployment directory it boots. */
    async bootEntries(): Promise<{ order: number; deploymentDir: string }[]> {
      const dir = join(sysroot, 'boot', 'loader', 'entries');
      const entries = [];
      for (const name of (await readdir(dir)).filter((n) => n.endsWith('.conf'))) {
        const text = await readFile(join(dir, name), 'utf8');
        // The title ends in "(ostree:N)": N = 0 boots first.
        const order = Number(/^title .*\(ostree:(\d+)\)$/m.exec(text)?.[1] ?? NaN);
        const ostreeArg = /(?:^options .*)?\bostree=(\S+)/m.exec(text)?.[1] ?? '';
        entries.push({ order, deploymentDir: await realpath(join(sysroot, ostreeArg)) });
      }
      return entries.sort((a, b) => a.order - b.order);
    },
  };
}

export type SysrootRig = Awaited<ReturnType<typeof startSysrootRig>>;
