// Full Uptane verification of a fresh update against the raw cost of the
// signature checks it performs, measured in the same run.
// Run: npm run bench:verify
import { createPublicKey, verify } from 'node:crypto';
import { canonicalBytes, NO_CACHE, TrustedRepository, type Signer } from '../../core/tuf/index.ts';
import { fullVerification } from '../../core/uptane/index.ts';
import { MockRepository, NOW, targetOf } from '../../test/helpers/mock-repository.ts';
import { median, timeRounds } from '../stats.ts';

const ROUNDS = 7;
const ITERATIONS = 100;

async function buildRepositories(imageTargets: number) {
  const image = new MockRepository();
  for (let i = 0; i < imageTargets; i++) {
    const content = new TextEncoder().encode(`rootfs ${i}`);
    image.targets[`rootfs-${i}.img`] = targetOf(content, {
      hardwareIds: ['rpi4', 'imx8'],
      releaseCounter: i,
    });
  }
  const director = new MockRepository();
  director.targetsExtra = { custom: { deviceId: 'dev-1' } };
  const latest = new TextEncoder().encode(`rootfs ${imageTargets - 1}`);
  director.targets[`rootfs-${imageTargets - 1}.img`] = targetOf(latest, {
    ecuIdentifiers: { 'ecu-1': { hardwareId: 'rpi4' } },
    releaseCounter: imageTargets - 1,
  });
  const anchors = { image: await image.publishRoot(), director: await director.publishRoot() };
  await image.publish();
  await director.publish();
  return { image, director, anchors };
}

/** The signature checks a fresh verification performs: (signed bytes, signer) per metadata file. */
function signatureWork(repo: MockRepository) {
  const work: { data: Uint8Array; signer: Signer; sig: Buffer }[] = [];
  const roles = {
    root: 'root.json',
    timestamp: 'timestamp.json',
    snapshot: 'snapshot.json',
    targets: 'targets.json',
  } as const;
  for (const [role, file] of Object.entries(roles)) {
    const parsed = JSON.parse(new TextDecoder().decode(repo.files.get(file))) as {
      signed: unknown;
      signatures: { sig: string }[];
    };
    work.push({
      data: canonicalBytes(parsed.signed),
      signer: repo.signers[role as keyof typeof roles][0] as Signer,
      sig: Buffer.from(parsed.signatures[0]?.sig ?? '', 'hex'),
    });
  }
  return work;
}

/** Image repository sizes measured: a young product, a typical release history, a long one. */
const IMAGE_TARGET_COUNTS = [20, 200, 1000];

export async function benchUptaneVerification(): Promise<void> {
  console.log('Full Uptane verification of a fresh update (2 repositories, 8 metadata files, 1 target)');
  console.log('  image targets  targets.json  full (median)  8 raw signature checks (median)  ratio');
  for (const count of IMAGE_TARGET_COUNTS) await benchOne(count);
  console.log('  (target: at most 2x the raw signature cost)');
}

async function benchOne(imageTargets: number): Promise<void> {
  const { image, director, anchors } = await buildRepositories(imageTargets);
  const verifyOnce = () =>
    fullVerification({
      director: {
        repository: new TrustedRepository(anchors.director, { name: 'director' }),
        fetch: director.fetcher,
        cache: NO_CACHE,
      },
      image: {
        repository: new TrustedRepository(anchors.image, { name: 'image' }),
        fetch: image.fetcher,
        cache: NO_CACHE,
      },
      device: { deviceId: 'dev-1', ecus: [{ serial: 'ecu-1', hardwareId: 'rpi4' }] },
      installed: {},
      now: NOW,
    });
  const result = await verifyOnce();
  if (result.length !== 1) throw new Error('the benchmark fixture does not verify');

  // The baseline: the same 8 signature checks on already-canonical bytes with parsed keys.
  const work = [...signatureWork(director), ...signatureWork(image)].map(({ data, signer, sig }) => {
    const der = Buffer.concat([
      Buffer.from('302a300506032b6570032100', 'hex'),
      Buffer.from(signer.publicKey.keyval.public, 'hex'),
    ]);
    return { data, sig, key: { key: der, format: 'der' as const, type: 'spki' as const } };
  });
  const prepared = work.map(({ data, sig, key }) => ({ data, sig, key: createPublicKey(key) }));
  const rawSignatures = () => {
    for (const { data, sig, key } of prepared)
      if (!verify(null, data, key, sig)) throw new Error('bad signature');
  };

  for (let warm = 0; warm < 50; warm++) {
    await verifyOnce();
    rawSignatures();
  }
  const full = median(await timeRounds(ROUNDS, ITERATIONS, verifyOnce));
  const raw = median(await timeRounds(ROUNDS, ITERATIONS, rawSignatures));
  const targetsBytes = image.served('targets').byteLength;
  console.log(
    `  ${String(imageTargets).padStart(13)}  ${`${(targetsBytes / 1024).toFixed(0)} KiB`.padStart(12)}  ${`${full.toFixed(3)} ms`.padStart(13)}  ${`${raw.toFixed(3)} ms`.padStart(32)}  ${(full / raw).toFixed(2)}x`,
  );
}
