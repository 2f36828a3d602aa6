/** One deployment of a sysroot, in the order `ostree admin status` lists them (index 0 boots next). */
export interface SysrootDeployment {
  index: number;
  os: string;
  checksum: string;
  serial: number;
}

const DEPLOYMENT_LINE = /^[* ] (\S+) ([0-9a-f]{64})\.(\d+)(?: \(\w+\))?$/;

/**
 * The deployments `ostree admin status` prints, in its order (the index
 * `ostree admin undeploy` takes). Lines it adds about each one (origin,
 * pinned, GPG) are skipped.
 */
export function parseDeployments(status: string): SysrootDeployment[] {
  const found: SysrootDeployment[] = [];
  for (const line of status.split('\n')) {
    const match = DEPLOYMENT_LINE.exec(line);
    if (!match) continue;
    const [, os = '', checksum = '', serial = '0'] = match;
    found.push({ index: found.length, os, checksum, serial: Number(serial) });
  }
  return found;
}

const UNITS: Record<string, number> = {
  B: 1,
  bytes: 1,
  kB: 1e3,
  KB: 1e3,
  MB: 1e6,
  GB: 1e9,
  KiB: 1024,
  MiB: 1024 ** 2,
  GiB: 1024 ** 3,
};

/**
 * The bytes `ostree pull` says it transferred ("… fetched; 982 KiB
 * transferred in 0 seconds"): rounded as ostree prints it, 0 when it
 * printed nothing (nothing was missing).
 */
export function parseTransferred(output: string): number {
  const match = /([\d.]+) (\w+) transferred/.exec(output);
  if (!match) return 0;
  const [, amount = '0', unit = 'B'] = match;
  return Math.round(Number(amount) * (UNITS[unit] ?? 1));
}
