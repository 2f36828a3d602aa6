// The launcher of the bundled agent: a POSIX shell script, so the settings that keep
// the agent small apply wherever the device starts it (systemd, a shell, npm's bin).

/**
 * V8 settings of the device agent (README, "The agent on a device", has the figures):
 * `--max-semi-space-size=1` keeps the young generation at 1 MiB per semi-space instead of
 * letting it grow to 8 MiB while modules load (about 2 MB of idle RSS); the price is more,
 * cheap, scavenges while an update streams in. Not `--lite-mode` or `--jitless`: they
 * remove WebAssembly, and fetch (undici's HTTP parser) needs it.
 */
export const AGENT_NODE_FLAGS = ['--max-semi-space-size=1'] as const;

/**
 * glibc keeps one malloc arena per thread that allocated; V8's and libuv's threads leave
 * several half-empty ones. One arena saves about 2.5 MB of idle RSS; the agent's threads
 * rarely allocate at once, so contention costs little.
 */
export const AGENT_MALLOC_ARENAS = 1;

/** The launcher's text; `bundleName` is the bundle beside it. */
export function launcherScript(bundleName: string): string {
  return `#!/bin/sh
# Runs the bundled Uproll agent on the device's Node (>= 24) with its memory settings.
# UPROLL_NODE: another node binary; UPROLL_NODE_FLAGS: other flags ("" for none).
here=$(dirname "$(readlink -f "$0")")
export MALLOC_ARENA_MAX="\${MALLOC_ARENA_MAX:-${AGENT_MALLOC_ARENAS}}"
exec "\${UPROLL_NODE:-node}" \${UPROLL_NODE_FLAGS-${AGENT_NODE_FLAGS.join(' ')}} "$here/${bundleName}" "$@"
`;
}
