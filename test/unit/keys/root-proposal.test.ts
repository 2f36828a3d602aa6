import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ceremonyStatus, proposeRoot, signRootProposal } from '../../../keys/index.ts';
import { newImageRepository, REPO_NOW } from '../../helpers/image-repository.ts';
import { newSigner } from '../../helpers/keys.ts';

const NEXT_YEAR = new Date(REPO_NOW.getTime() + 365 * 24 * 60 * 60 * 1000);

describe('root change ceremony', () => {
  it('collects signatures holder by holder and publishes only once both thresholds are met', async () => {
    const { repository, signers } = await newImageRepository();
    const current = await readFile(join(repository.metadataDir, '1.root.json'));
    const replacement = newSigner();
    let proposal = await proposeRoot(current, {
      replace: { snapshot: [replacement.publicKey] },
      expires: NEXT_YEAR,
    });
    proposal = await signRootProposal(proposal, signers.root[0]!);
    expect(ceremonyStatus(current, proposal)).toEqual({
      version: 2,
      byCurrentRoot: { have: 1, need: 2 },
      byProposedRoot: { have: 1, need: 2 },
      complete: false,
    });
    await expect(
      repository.publishRoot(proposal, { ...signers, snapshot: [replacement] }, REPO_NOW),
    ).rejects.toThrowWithCode('CEREMONY_INCOMPLETE');
    expect((await repository.versions()).root).toBe(1);

    proposal = await signRootProposal(proposal, signers.root[1]!);
    expect(ceremonyStatus(current, proposal).complete).toBe(true);
    expect(
      await repository.publishRoot(proposal, { ...signers, snapshot: [replacement] }, REPO_NOW),
    ).toMatchObject({ root: 2, snapshot: 2 });
  });

  it('counts a holder who signs twice once', async () => {
    const { repository, signers } = await newImageRepository();
    const current = await readFile(join(repository.metadataDir, '1.root.json'));
    let proposal = await proposeRoot(current, { expires: NEXT_YEAR });
    proposal = await signRootProposal(await signRootProposal(proposal, signers.root[0]!), signers.root[0]!);
    expect(ceremonyStatus(current, proposal).byCurrentRoot.have).toBe(1);
  });

  it('refuses a change that would leave a role unable to reach its threshold', async () => {
    const { repository, signers } = await newImageRepository();
    const current = await readFile(join(repository.metadataDir, '1.root.json'));
    await expect(
      proposeRoot(current, { remove: signers.root.slice(0, 2).map((s) => s.keyId), expires: NEXT_YEAR }),
    ).rejects.toThrowWithCode('INVALID_INPUT');
  });
});
