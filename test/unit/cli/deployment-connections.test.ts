import { describe, expect, it } from 'vitest';
import { natsReasonOf } from '../../../cli/deployment-connections.ts';

describe('why NATS could not be reached', () => {
  it("says how to trust the server's CA when its certificate could not be verified", () => {
    // As Node 24 words it, with a hint that does not help here.
    const cause = new Error(
      'unable to verify the first certificate; if the root CA is installed locally, try running Node.js with --use-system-ca',
    );
    const reason = natsReasonOf(cause);
    expect(reason).toMatch(/^unable to verify the first certificate: its certificate is from a CA/);
    expect(reason).toContain('--nats-ca-file or $UPROLL_NATS_CA');
    expect(reason).not.toContain('--use-system-ca');
  });

  it('keeps any other reason as it is, in one line', () => {
    expect(natsReasonOf(new Error('connection refused\nat …'))).toBe('connection refused');
  });
});
