// What the agent takes on a device's disk: its install (bundle, launcher, package.json)
// and the Node runtime it needs, against today's way (sources + node_modules).
import { spawnSync } from 'node:child_process';
import { realpathSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { AgentBuild } from '../../release/agent/build.ts';
import { debianNode, type DebianPackage } from './debian-node.ts';

const NODE_MODULES = fileURLToPath(new URL('../../node_modules/', import.meta.url));

export interface InstallSize {
  /** Bytes of each file of the agent's install. */
  files: Record<string, number>;
  installBytes: number;
  /** The node binary running this benchmark (the device would need the same major). */
  node: { path: string; bytes: number };
  /** `du` of the checkout's node_modules (what a device would need to run the sources), if measurable. */
  nodeModulesBytes: number | undefined;
  /** Debian's nodejs and what it pulls in, from apt metadata ([] where there is no apt). */
  debian: DebianPackage[];
}

export function installSize(build: AgentBuild): InstallSize {
  const node = realpathSync(process.execPath);
  const du = spawnSync('du', ['-skL', NODE_MODULES], { encoding: 'utf8' });
  const kb = Number(du.stdout.split('\t')[0]);
  return {
    files: build.files,
    installBytes: Object.values(build.files).reduce((a, b) => a + b, 0),
    node: { path: node, bytes: statSync(node).size },
    nodeModulesBytes: du.status === 0 && Number.isFinite(kb) ? kb * 1024 : undefined,
    debian: debianNode(),
  };
}
