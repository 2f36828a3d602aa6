// Publishes releases one after another until killed (at most 500), for the
// crash-safety test. Usage: node publish-loop.ts KEYSTORE REPO (passphrase in UPROLL_TEST_ONLINE).
import { KeyStore, roleSigners } from '../../keys/index.ts';
import { ImageRepository } from '../../services/image-repo/index.ts';

const [keystore = '', repo = ''] = process.argv.slice(2);
const passphrase = process.env['UPROLL_TEST_ONLINE'] ?? '';
const store = new KeyStore(keystore, { clock: () => new Date(), onlineOnly: true });
const signers = {
  releases: await roleSigners(store, 'image', 'releases', passphrase),
  snapshot: await roleSigners(store, 'image', 'snapshot', passphrase),
  timestamp: await roleSigners(store, 'image', 'timestamp', passphrase),
};
const repository = new ImageRepository(repo);
process.stdout.write('ready\n');
for (let i = 0; i < 500; i++) {
  const name = `app-${process.pid}-${i}.bin`;
  await repository.publish(
    [{ name, bytes: new Uint8Array(64 * 1024).fill(i % 256), hardwareIds: ['rpi4'], releaseCounter: i }],
    signers,
    new Date(),
  );
}
