import { readFile, stat } from 'node:fs/promises';
import { basename } from 'node:path';
import { UprollError } from '../../core/index.ts';
import { ImageRepository } from '../../services/image-repo/index.ts';
import { UsageError, type Command } from '../command.ts';
import { passphraseOptions } from '../passphrase.ts';
import { imageRepoDir, locationOptions } from '../locations.ts';
import {
  healthOf,
  healthOptions,
  revisionTargetOptions,
  publishingSigners,
  releaseTarget,
} from './release-options.ts';
import { actorOf, byOption, recordAudit } from '../audit.ts';
import { appOptions, appsOf } from './release-apps.ts';

/** Artifacts are read whole for now; a streaming publish is the next step. */
const MAX_ARTIFACT_BYTES = 1024 ** 3;

export const releasePublish: Command = {
  name: 'release publish',
  summary:
    'Publish artifacts to the Image repository, signed by the releases role, with a new snapshot and timestamp.',
  usage:
    'uproll release publish FILE... --hardware-id ID [--hardware-id ID ...] --release-counter N [--json]',
  details: 'Signs with the online keys (releases, snapshot, timestamp), opened with the online passphrase.',
  options: {
    keystore: locationOptions.keystore,
    repo: locationOptions.repo,
    'hardware-id': {
      type: 'string',
      multiple: true,
      description: 'hardware the artifacts run on (repeat for several)',
    },
    'release-counter': { type: 'string', description: 'release counter; devices never install a lower one' },
    ...passphraseOptions('', 'online key'),
    ...byOption,
  },
  async run({ values, positionals }, io) {
    const by = actorOf(values);
    if (positionals.length === 0) throw new UsageError('name at least one FILE to publish');
    const { hardwareIds, releaseCounter } = releaseTarget(values);
    const artifacts = [];
    for (const file of positionals) {
      artifacts.push({ name: basename(file), bytes: await readArtifact(file), hardwareIds, releaseCounter });
    }
    const signers = await publishingSigners(values);
    const repository = new ImageRepository(imageRepoDir(values));
    const before = await repository.versions();
    const versions = await repository.publish(artifacts, signers, new Date());
    // Every artifact was published so already: nothing was signed.
    const alreadyPublished = versions.timestamp === before.timestamp;
    if (!alreadyPublished)
      await recordAudit(values, io, by, {
        aggregate: 'repository',
        aggregateId: 'image',
        type: 'repository.release.published',
        data: {
          summary: `published ${artifacts.map((a) => a.name).join(', ')} (counter ${releaseCounter}) as releases v${versions.releases}`,
          artifacts: artifacts.map((a) => a.name),
          hardwareIds,
          releaseCounter,
          versions,
        },
      });
    if (values.json)
      io.out(JSON.stringify({ published: artifacts.map((a) => a.name), versions, alreadyPublished }));
    else if (alreadyPublished)
      io.out(
        `${artifacts.map((a) => a.name).join(', ')}: already published with this content, nothing changed`,
      );
    else
      io.out(
        `published ${artifacts.map((a) => a.name).join(', ')}: releases v${versions.releases}, snapshot v${versions.snapshot}, timestamp v${versions.timestamp}`,
      );
    return 0;
  },
};

export const releaseRevision: Command = {
  name: 'release revision',
  summary:
    'Publish a state revision: its artifacts stored once by sha256, the revision document signed as a target.',
  usage:
    'uproll release revision NAME [PATH=FILE...] [--app NAME=OCI_LAYOUT_DIR[:TAG] ...] [--app-config FILE] --hardware-id ID [--hardware-id ID ...] --release-counter N [--rootfs-image PATH] [--health-cmd CMD] [--json]',
  details:
    'Each PATH=FILE puts FILE at PATH in the device deployment (PATH: relative, plain segments; FILE alone\n' +
    'means its base name). Objects the repository already holds are not stored again, so devices only\n' +
    'download what changed. --health-cmd is run with sh -c in the new deployment on the device and decides\n' +
    'commit or rollback. --app NAME=DIR[:TAG] adds an app from a local OCI image layout (umoci, skopeo):\n' +
    'its manifest, config and layers become objects too, so a layer shared by apps or revisions is stored and\n' +
    'downloaded once; --app-config FILE gives each app its command, env, volumes, restart, after and health.\n' +
    '--rootfs-image PATH marks the artifact at PATH as a root filesystem image: an agent\n' +
    'with the raw image installer writes it into its inactive A/B slot and boots that slot on trial.\n' +
    'Signs with the online keys (releases, snapshot, timestamp).\n' +
    'A revision name is used once: the same revision again changes nothing; other content under a\n' +
    'published name is refused (REVISION_EXISTS).',
  options: {
    ...revisionTargetOptions,
    ...healthOptions,
    ...appOptions,
    'rootfs-image': {
      type: 'string',
      description: 'the artifact PATH that is a root filesystem image (for A/B raw image slots)',
    },
    ...passphraseOptions('', 'online key'),
    ...byOption,
  },
  async run({ values, positionals }, io) {
    const by = actorOf(values);
    const [name, ...specs] = positionals;
    if (!name) throw new UsageError('name the revision and at least one PATH=FILE or --app');
    const apps = await appsOf(values);
    if (specs.length === 0 && apps.length === 0)
      throw new UsageError('name the revision and at least one PATH=FILE or --app');
    const { hardwareIds, releaseCounter } = releaseTarget(values);
    const artifacts = [];
    for (const spec of specs) {
      const [path, file] = spec.includes('=')
        ? [spec.slice(0, spec.indexOf('=')), spec.slice(spec.indexOf('=') + 1)]
        : [basename(spec), spec];
      // An executable file stays executable on the device (a script the health check runs, say).
      const executable = ((await stat(file)).mode & 0o111) !== 0;
      const image = values['rootfs-image'] === path;
      artifacts.push({
        path,
        bytes: await readArtifact(file),
        ...(image ? { image: 'rootfs' as const } : executable ? { executable } : {}),
      });
    }
    const rootfs = values['rootfs-image'];
    if (typeof rootfs === 'string' && !artifacts.some((artifact) => artifact.path === rootfs))
      throw new UsageError(`--rootfs-image ${rootfs} names no PATH of the revision`);
    const health = healthOf(values);
    const signers = await publishingSigners(values);
    const published = await new ImageRepository(imageRepoDir(values)).publishRevision(
      {
        name,
        artifacts,
        hardwareIds,
        releaseCounter,
        ...(health ? { health } : {}),
        ...(apps.length > 0 ? { apps } : {}),
      },
      signers,
      new Date(),
    );
    if (!published.alreadyPublished)
      await recordAudit(values, io, by, {
        aggregate: 'repository',
        aggregateId: 'image',
        type: 'repository.revision.published',
        data: {
          summary: `revision ${name} (${artifacts.length} artifacts${apps.length > 0 ? `, ${apps.length} apps` : ''}, counter ${releaseCounter}) as ${published.target}`,
          revision: name,
          apps: apps.map((app) => ({ name: app.name, manifest: app.image.manifest })),
          hardwareIds,
          releaseCounter,
          target: published.target,
        },
      });
    if (values.json) io.out(JSON.stringify(published));
    else if (published.alreadyPublished)
      io.out(
        `revision ${name} was already published as ${published.target}, with these very artifacts: nothing changed`,
      );
    else
      io.out(
        `published revision ${name} (${artifacts.length} artifacts) as ${published.target}: releases v${published.versions.releases}`,
      );
    return 0;
  },
};

async function readArtifact(file: string): Promise<Uint8Array> {
  const size = (await stat(file)).size;
  if (size > MAX_ARTIFACT_BYTES)
    throw new UprollError('INPUT_TOO_LARGE', `${file} is larger than ${MAX_ARTIFACT_BYTES} bytes`);
  return readFile(file);
}
