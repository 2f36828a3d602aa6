import { describe, expect, it } from 'vitest';
import { parseDeployments, parseTransferred } from '../../../agent/installers/ostree-output.ts';

const a = 'a'.repeat(64);
const b = 'b'.repeat(64);

describe('reading what ostree prints', () => {
  it('lists the deployments of `ostree admin status` in its order, booted, pending and rollback marks aside', () => {
    const status = [
      `  uproll ${a}.1 (pending)`,
      '    origin refspec: uproll/x',
      `* uproll ${b}.0`,
      `    origin refspec: ${b}`,
      '    Pinned: yes',
      `  other ${a}.0 (rollback)`,
    ].join('\n');
    expect(parseDeployments(status)).toEqual([
      { index: 0, os: 'uproll', checksum: a, serial: 1 },
      { index: 1, os: 'uproll', checksum: b, serial: 0 },
      { index: 2, os: 'other', checksum: a, serial: 0 },
    ]);
    expect(parseDeployments('No deployments.\n')).toEqual([]);
  });

  it('reads the bytes `ostree pull` says it transferred, 0 when it said nothing', () => {
    expect(
      parseTransferred(
        '10 metadata, 54 content objects fetched; 982 KiB transferred in 0 seconds; 1.0 MB content written',
      ),
    ).toBe(982 * 1024);
    expect(parseTransferred('7 metadata, 2 content objects fetched; 22 kB transferred in 1 seconds')).toBe(
      22_000,
    );
    expect(parseTransferred('')).toBe(0);
  });
});
