// The launcher of the bundled agent: a POSIX shell script, so the settings that keep
// the agent small apply wherever the device starts it (systemd, a shell, npm's bin).

/**
 * V8 settings of the device agent (README, "The agent on a device", has the figures):
 * - `--max-semi-space-size=1`: the young generation stays at 1 MiB per semi-space instead
 *   of growing to 8 MiB while modules load; the price is more, cheap, scavenges.
 * - `--liftoff-only`: WebAssembly (fetch's HTTP parser, llhttp) stays on the baseline
 *   compiler; optimizing it took 30 MB of malloc that glibc kept. Only metadata
 *   goes through fetch (images stream over node:http), so nothing hot runs slower.
 * - `--no-node-snapshot`: Node bootstraps by running its setup code instead of
 *   deserializing its whole startup heap; about 4.5 MB less, 0.1-0.15 s more to start.
 * Not `--lite-mode` or `--jitless`: they remove WebAssembly, and fetch needs it.
 */
export const AGENT_NODE_FLAGS = ['--max-semi-space-size=1', '--liftoff-only', '--no-node-snapshot'] as const;

/**
 * glibc malloc settings: one arena instead of one per thread that allocated (V8's and
 * libuv's threads left several half-empty), and blocks of 64 KiB or more from mmap, so
 * that what V8 frees while compiling goes back to the system instead of staying in the heap.
 */
export const AGENT_GLIBC_TUNABLES = 'glibc.malloc.arena_max=1:glibc.malloc.mmap_threshold=65536';

/** The launcher's text; `bundleName` is the bundle beside it. */
export function launcherScript(bundleName: string): string {
  return `#!/bin/sh
# Runs the bundled Uproll agent on the device's Node (>= 24) with its memory settings.
# UPROLL_NODE: another node binary; UPROLL_NODE_FLAGS: other flags ("" for none);
# GLIBC_TUNABLES: other malloc settings (ignored on musl).
here=$(dirname "$(readlink -f "$0")")
export GLIBC_TUNABLES="\${GLIBC_TUNABLES-${AGENT_GLIBC_TUNABLES}}"
exec "\${UPROLL_NODE:-node}" \${UPROLL_NODE_FLAGS-${AGENT_NODE_FLAGS.join(' ')}} "$here/${bundleName}" "$@"
`;
}
