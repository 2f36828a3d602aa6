import { ImageOstreeRepo, ImageRepository } from '../../services/image-repo/index.ts';
import { actorOf, byOption, recordAudit } from '../audit.ts';
import { UsageError, type Command } from '../command.ts';
import { imageRepoDir } from '../locations.ts';
import { passphraseOptions } from '../passphrase.ts';
import {
  healthOf,
  healthOptions,
  revisionTargetOptions,
  publishingSigners,
  releaseTarget,
} from './release-options.ts';

export const releaseOstree: Command = {
  name: 'release ostree',
  summary:
    "Publish a state revision whose OS is an OSTree commit of the Image repository's OSTree repository.",
  usage:
    'uproll release ostree NAME (--tree DIR | --from-repo REPO --commit REF|CHECKSUM) --hardware-id ID [--hardware-id ID ...] --release-counter N [--ref REF] [--health-cmd CMD] [--json]',
  details:
    'Commits the directory --tree (a deployable OS tree: usr/lib/modules/<kver>/vmlinuz and initramfs.img,\n' +
    'usr/etc/, an os-release with ID or PRETTY_NAME; files owned by root on the device), or copies the\n' +
    'commit --commit of the local OSTree repository --from-repo, into <repo>/ostree (archive mode, served\n' +
    'as /ostree/), then publishes the revision NAME naming that commit by checksum, signed as the target\n' +
    'revisions/NAME.json. Devices running `uproll-agent --installer ostree --ostree-sysroot` pull the\n' +
    'commit by checksum (objects they lack only) and deploy it with ostree admin deploy; they trust it\n' +
    'because the signed revision names its checksum (no OSTree GPG signature is needed).\n' +
    '--ref (default uproll/<first hardware id>) is the branch the commit goes on, moved once published.\n' +
    'A revision name is used once: the same tree or commit again changes nothing; other content under\n' +
    'a published name is refused (REVISION_EXISTS). Signs with the online keys.',
  options: {
    ...revisionTargetOptions,
    tree: { type: 'string', description: 'directory to commit as the OS tree' },
    'from-repo': { type: 'string', description: 'a local OSTree repository to import the commit from' },
    commit: { type: 'string', description: 'with --from-repo: the ref or checksum to import' },
    ref: { type: 'string', description: 'the branch of the commit (default uproll/<hardware id>)' },
    ...healthOptions,
    ...passphraseOptions('', 'online key'),
    ...byOption,
  },
  async run({ values, positionals }, io) {
    const by = actorOf(values);
    const [name, ...extra] = positionals;
    if (!name || extra.length > 0) throw new UsageError('name exactly one revision');
    const tree = typeof values['tree'] === 'string' ? values['tree'] : undefined;
    const fromRepo = typeof values['from-repo'] === 'string' ? values['from-repo'] : undefined;
    const source = typeof values['commit'] === 'string' ? values['commit'] : undefined;
    if ((tree === undefined) === (fromRepo === undefined))
      throw new UsageError('give either --tree DIR or --from-repo REPO --commit REF');
    if ((fromRepo === undefined) !== (source === undefined))
      throw new UsageError('--from-repo and --commit go together');
    const { hardwareIds, releaseCounter } = releaseTarget(values);
    const ref = typeof values['ref'] === 'string' ? values['ref'] : `uproll/${hardwareIds[0]}`;
    const health = healthOf(values);
    const signers = await publishingSigners(values);
    const repository = new ImageRepository(imageRepoDir(values));
    const ostree = new ImageOstreeRepo(repository.dir);

    let commit = tree
      ? await ostree.commitTree(tree, { parentRef: ref, subject: name })
      : await ostree.importCommit(fromRepo!, source!);
    // A tree committed again is a new commit of the same files: the published one stands for it.
    const published = (await repository.publishedRevision(name))?.ostree?.commit;
    if (published && published !== commit && (await ostree.hasCommit(published)))
      if ((await ostree.treeOf(published)) === (await ostree.treeOf(commit))) commit = published;

    const result = await repository.publishRevision(
      {
        name,
        artifacts: [],
        ostree: { commit, ref },
        hardwareIds,
        releaseCounter,
        ...(health ? { health } : {}),
      },
      signers,
      new Date(),
    );
    if (!result.alreadyPublished) {
      await ostree.setRef(ref, commit);
      await recordAudit(values, io, by, {
        aggregate: 'repository',
        aggregateId: 'image',
        type: 'repository.revision.published',
        data: {
          summary: `revision ${name} (OSTree commit ${commit} on ${ref}, counter ${releaseCounter}) as ${result.target}`,
          revision: name,
          ostree: { commit, ref },
          hardwareIds,
          releaseCounter,
          target: result.target,
        },
      });
    }
    if (values.json) io.out(JSON.stringify({ ...result, commit, ref }));
    else if (result.alreadyPublished)
      io.out(
        `revision ${name} was already published as ${result.target}, with this very tree: nothing changed`,
      );
    else
      io.out(
        `published revision ${name} (OSTree commit ${commit} on ${ref}) as ${result.target}: releases v${result.versions.releases}`,
      );
    return 0;
  },
};
