import { describe, expect, it } from 'vitest';
import { lostAPortOfItsOwn } from '../../../services/dev-stack/local-stack.ts';

// Seen in the suite: the dev server picked a free HTTP API port, another process bound it first.
const lost = (port: number) =>
  new Error(
    `the Temporal dev server exited during startup:\nfailed listening for HTTP API on 127.0.0.1:${port}: listen tcp 127.0.0.1:${port}: bind: address already in use`,
  );

describe('a Temporal dev server that exited during startup', () => {
  it('is started again when it lost a port it had picked itself', () => {
    expect(lostAPortOfItsOwn(lost(40225), 17233)).toBe(true);
  });

  it('is not, when the gRPC port it was given is taken, or it failed otherwise', () => {
    expect(
      lostAPortOfItsOwn(new Error('listen tcp 127.0.0.1:17233: bind: address already in use'), 17233),
    ).toBe(false);
    expect(lostAPortOfItsOwn(new Error('database is locked'), 17233)).toBe(false);
  });
});
