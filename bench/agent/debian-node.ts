// What a Debian device would install to get Node, from the apt metadata (`apt-cache
// show`): nodejs, its libnode, and the shared libraries the official build links in.
import { spawnSync } from 'node:child_process';

export interface DebianPackage {
  name: string;
  version: string;
  installedBytes: number;
}

/** The candidate nodejs of this machine's apt sources and what it needs, or [] without apt. */
export function debianNode(): DebianPackage[] {
  const nodejs = show('nodejs');
  if (!nodejs) return [];
  const libnode = /\b(libnode\d+)\b/.exec(nodejs.depends)?.[1];
  const libs = libnode ? show(libnode) : undefined;
  const icu = libs && /\b(libicu\d+)\b/.exec(libs.depends)?.[1];
  const names = [libnode, icu, 'libssl3', 'libuv1'].filter((n): n is string => !!n);
  return [nodejs, ...names.map(show)].filter((p): p is DebianPackage & { depends: string } => !!p).map(strip);
}

function show(name: string): (DebianPackage & { depends: string }) | undefined {
  // The Debian archive's version, not a third-party repository's: its Depends name libnode.
  const run = spawnSync('apt-cache', ['show', name], { encoding: 'utf8' });
  if (run.status !== 0) return undefined;
  const records = run.stdout.split('\n\n').filter((r) => r.includes('Installed-Size:'));
  const record = records.find((r) => /^Depends:.*libnode/m.test(r)) ?? records[0];
  if (!record) return undefined;
  const field = (key: string) => new RegExp(`^${key}: (.*)$`, 'm').exec(record)?.[1] ?? '';
  return {
    name,
    version: field('Version'),
    installedBytes: Number(field('Installed-Size')) * 1024,
    depends: field('Depends'),
  };
}

function strip({ name, version, installedBytes }: DebianPackage): DebianPackage {
  return { name, version, installedBytes };
}
