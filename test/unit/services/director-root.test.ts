import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import { proposeRoot, signRootProposal } from '../../../keys/index.ts';
import { DirectorRepository } from '../../../services/director/index.ts';
import { fileTree } from '../../helpers/file-tree.ts';
import { FIXTURE_NOW, fixtureDaysFromNow } from '../../helpers/fixture-time.ts';
import { newSigner } from '../../helpers/keys.ts';

const root = [newSigner(), newSigner()];
const online = { targets: [newSigner()], snapshot: [newSigner()], timestamp: [newSigner()] };
let director: DirectorRepository;

beforeEach(async () => {
  director = new DirectorRepository(await mkdtemp(join(tmpdir(), 'uproll-director-root-')));
  await director.initialize(
    {
      root: root.map((s) => s.publicKey),
      rootThreshold: 2,
      targets: online.targets.map((s) => s.publicKey),
      snapshot: online.snapshot.map((s) => s.publicKey),
      timestamp: online.timestamp.map((s) => s.publicKey),
    },
    root,
    FIXTURE_NOW,
  );
  await director.register(
    { deviceId: 'dev-1', ecus: [{ serial: 'e1', hardwareId: 'hw' }], publicKey: root[0]!.publicKey },
    online,
    FIXTURE_NOW,
  );
});

/** Director root v2 with a new timestamp key, signed by `signers`. */
async function rotation(signers: typeof root) {
  const timestamp = newSigner();
  let proposal = await proposeRoot(await director.currentRoot(), {
    replace: { timestamp: [timestamp.publicKey] },
    expires: fixtureDaysFromNow(365),
  });
  for (const signer of signers) proposal = await signRootProposal(proposal, signer);
  return { proposal, timestamp };
}

describe('publishing a Director root', () => {
  it('when signed by too few root keys: CEREMONY_INCOMPLETE, nothing written', async () => {
    const before = await fileTree(director.dir);
    const { proposal, timestamp } = await rotation(root.slice(0, 1));
    await expect(
      director.publishRoot(proposal, { ...online, timestamp: [timestamp] }, FIXTURE_NOW),
    ).rejects.toThrowWithCode('CEREMONY_INCOMPLETE');
    expect(await fileTree(director.dir)).toEqual(before);
  });

  it('when the signers at hand are not the keys it names: SIGNERS_MISSING, nothing written', async () => {
    const before = await fileTree(director.dir);
    const { proposal } = await rotation(root);
    await expect(director.publishRoot(proposal, online, FIXTURE_NOW)).rejects.toThrowWithCode(
      'SIGNERS_MISSING',
    );
    expect(await fileTree(director.dir)).toEqual(before);
  });

  it('when complete: root v2 is in every device folder, beside metadata signed by its keys', async () => {
    const { proposal, timestamp } = await rotation(root);
    expect(await director.publishRoot(proposal, { ...online, timestamp: [timestamp] }, FIXTURE_NOW)).toBe(2);
    const device = await fileTree(join(director.dir, 'devices', 'dev-1', 'metadata'));
    expect(device['2.root.json']).toBe((await fileTree(join(director.dir, 'root')))['2.root.json']);
    const stamp = JSON.parse(
      await readFile(join(director.dir, 'devices', 'dev-1', 'metadata', 'timestamp.json'), 'utf8'),
    ) as { signatures: { keyid: string }[] };
    expect(stamp.signatures.map((s) => s.keyid)).toEqual([timestamp.keyId]);
  });
});
