import { z } from 'zod';
import { appBlobLabel, appsSchema } from './apps.ts';

/** Byte cap on a state revision document as it arrives from the Image repository. */
export const MAX_REVISION_BYTES = 256 * 1024;
/** Largest single artifact (1 TiB): a sanity bound, not a policy. */
export const MAX_ARTIFACT_BYTES = 2 ** 40;

export const sha256Schema = z.string().regex(/^[0-9a-f]{64}$/, 'must be 64 lowercase hex digits');

/** A relative path inside a deployment: plain segments, never `.`/`..`, never absolute. */
const artifactPathSchema = z
  .string()
  .max(256)
  .regex(/^[A-Za-z0-9._-]+(\/[A-Za-z0-9._-]+)*$/, 'must be a relative path of plain segments')
  .refine((path) => path.split('/').every((segment) => !/^\.+$/.test(segment)), 'must not use . or ..');

/**
 * An OSTree ref as `ostree` accepts it: segments of letters, digits and `._-`
 * joined by `/`, none starting with a dot (and so never `.` or `..`).
 */
export const ostreeRefSchema = z
  .string()
  .max(255)
  .regex(/^[A-Za-z0-9_-][A-Za-z0-9._-]*(\/[A-Za-z0-9_-][A-Za-z0-9._-]*)*$/, 'must be an OSTree ref');

/**
 * The OS of a revision as an OSTree commit. The checksum (the sha256 of the
 * commit object, which pins its whole tree) is what a device pulls and
 * deploys; the ref only says which branch of the Image repository's OSTree
 * repository it was committed on, for people. The document's own TUF hashes
 * cover both, so neither can be swapped on the way.
 */
export const ostreeCommitSchema = z.object({
  commit: sha256Schema,
  ref: ostreeRefSchema.optional(),
});
export type OstreeCommit = z.infer<typeof ostreeCommitSchema>;

/** How a device decides that a newly switched revision is healthy. */
export const healthCheckSchema = z
  .object({
    /** A program and its arguments, run in the deployment; exit 0 means healthy. */
    command: z.tuple([z.string().min(1).max(1024)], z.string().max(4096)).optional(),
    /** An HTTP probe on the device itself; a 2xx answer means healthy. */
    http: z.url({ protocol: /^https?$/, hostname: /^(127\.0\.0\.1|localhost|\[::1\])$/ }).optional(),
    timeoutMs: z.int().min(1).max(600_000).default(30_000),
    attempts: z.int().min(1).max(20).default(1),
    /** Wait between attempts. */
    intervalMs: z.int().min(0).max(60_000).default(1000),
  })
  .refine((check) => check.command !== undefined || check.http !== undefined, 'needs a command or http');
export type HealthCheck = z.infer<typeof healthCheckSchema>;
export type HealthCheckInput = z.input<typeof healthCheckSchema>;

/**
 * A release as a device installs it: every artifact of the device's
 * application layer by path, sha256 and length, and/or the OS as an OSTree
 * commit (`ostree`), plus how to check the revision is healthy. The
 * document is itself a TUF target, so each artifact and the commit are
 * vouched for by their hashes here. Artifacts are stored once, addressed by
 * sha256 (`objects/<sha256>` in the Image repository); commits live in its
 * OSTree repository (`ostree/`).
 */
export const stateRevisionSchema = z
  .object({
    kind: z.literal('uproll.state-revision/v1'),
    name: z.string().regex(/^[A-Za-z0-9._-]{1,128}$/, 'must be a plain revision name'),
    artifacts: z
      .array(
        z.object({
          path: artifactPathSchema,
          sha256: sha256Schema,
          length: z.int().min(0).max(MAX_ARTIFACT_BYTES),
          /** Installed with mode 0755 (else 0644): scripts and programs of the deployment. */
          executable: z.literal(true).optional(),
          /**
           * `rootfs`: this artifact is a whole root filesystem image. The raw
           * image installer writes it byte for byte into the inactive A/B slot
           * (a block device) and boots that slot on trial; every other
           * artifact of the revision is placed as a file beside the slot. At
           * most one artifact of a revision is an image, and it is never
           * executable.
           */
          image: z.literal('rootfs').optional(),
        }),
      )
      .max(1024)
      .refine(
        (list) => new Set(list.map((a) => a.path)).size === list.length,
        'artifact paths must be unique',
      )
      .refine((list) => list.filter((a) => a.image).length <= 1, 'at most one artifact may be a rootfs image')
      .refine((list) => list.every((a) => !(a.image && a.executable)), 'a rootfs image cannot be executable'),
    /** The OS to deploy, by OSTree commit checksum (installed by an OSTree system installer). */
    ostree: ostreeCommitSchema.optional(),
    health: healthCheckSchema.optional(),
    /** The device's apps: OCI images run as containers, started in `after` order once the OS part is in place. */
    apps: appsSchema.optional(),
  })
  .refine(
    (revision) =>
      revision.artifacts.length > 0 || revision.ostree !== undefined || (revision.apps?.length ?? 0) > 0,
    {
      message: 'needs at least one artifact, an OSTree commit or an app',
      path: ['artifacts'],
    },
  )
  .refine((revision) => !(revision.ostree && revision.artifacts.some((a) => a.image)), {
    message: 'names the OS twice: an OSTree commit and a rootfs image',
    path: ['ostree'],
  });
export type StateRevision = z.infer<typeof stateRevisionSchema>;
export type RevisionArtifact = StateRevision['artifacts'][number];

/** The revision's root filesystem image (the artifact marked `image: "rootfs"`), if it has one. */
export function rootfsImageOf(revision: StateRevision): RevisionArtifact | undefined {
  return revision.artifacts.find((artifact) => artifact.image === 'rootfs');
}

/** Where state revision documents live among the Image repository's targets. */
export const REVISIONS_PREFIX = 'revisions/';

/** The Image repository target path of a revision's document. */
export function revisionTargetPath(name: string): string {
  return `${REVISIONS_PREFIX}${name}.json`;
}

/** The revision name a target path names, or undefined when it is not a revision document. */
export function revisionNameOf(targetPath: string): string | undefined {
  return /^revisions\/([A-Za-z0-9._-]{1,128})\.json$/.exec(targetPath)?.[1];
}

/** The Image repository path of an object (an artifact's bytes, addressed by sha256). */
export function objectPath(sha256: string): string {
  return `objects/${sha256}`;
}

/**
 * The objects a device must fetch to install `revision` when it already
 * holds `present`: each distinct sha256 once, nothing it has (object-level delta).
 */
export function missingObjects(revision: StateRevision, present: ReadonlySet<string>): RevisionArtifact[] {
  const seen = new Set(present);
  const missing: RevisionArtifact[] = [];
  for (const artifact of revisionObjects(revision)) {
    if (seen.has(artifact.sha256)) continue;
    seen.add(artifact.sha256);
    missing.push(artifact);
  }
  return missing;
}

/**
 * Every object a revision needs on the device: its artifacts, then each
 * blob of each app's OCI image (labelled `apps/<app>/<sha256>`; the same
 * blob may appear under several apps).
 */
export function revisionObjects(revision: StateRevision): RevisionArtifact[] {
  const blobs = (revision.apps ?? []).flatMap((app) =>
    app.blobs.map((blob) => ({
      path: appBlobLabel(app, blob.sha256),
      sha256: blob.sha256,
      length: blob.length,
    })),
  );
  return [...revision.artifacts, ...blobs];
}

/** True when two revisions install the same OS part (artifacts and OSTree commit): only their apps differ. */
export function sameOsPart(a: StateRevision, b: StateRevision): boolean {
  const os = (revision: StateRevision) =>
    JSON.stringify({ artifacts: revision.artifacts, ostree: revision.ostree ?? null });
  return os(a) === os(b);
}
