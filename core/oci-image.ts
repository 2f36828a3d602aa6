import { z } from 'zod';

/** Byte caps on the small JSON documents of an OCI image (layers are capped by their listed length). */
export const MAX_OCI_INDEX_BYTES = 64 * 1024;
export const MAX_OCI_MANIFEST_BYTES = 64 * 1024;
export const MAX_OCI_CONFIG_BYTES = 256 * 1024;

/** An OCI digest; only sha256 is accepted, since objects are addressed by sha256. */
export const ociDigestSchema = z.string().regex(/^sha256:[0-9a-f]{64}$/, 'must be sha256:<64 hex digits>');

export const OCI_MANIFEST_TYPE = 'application/vnd.oci.image.manifest.v1+json';
export const OCI_CONFIG_TYPE = 'application/vnd.oci.image.config.v1+json';
/** The layer media types the agent unpacks: plain and gzip tar (zstd and foreign layers are refused). */
export const OCI_LAYER_TYPES = {
  'application/vnd.oci.image.layer.v1.tar': 'tar',
  'application/vnd.oci.image.layer.v1.tar+gzip': 'gzip',
} as const;
export type LayerCompression = (typeof OCI_LAYER_TYPES)[keyof typeof OCI_LAYER_TYPES];

const descriptor = <T extends z.ZodType<string>>(mediaType: T) =>
  z.object({
    mediaType,
    digest: ociDigestSchema,
    size: z
      .int()
      .min(0)
      .max(2 ** 34),
  });

/** An OCI image manifest (image-spec 1.x), as much as the agent relies on. */
export const ociManifestSchema = z.object({
  schemaVersion: z.literal(2),
  mediaType: z.literal(OCI_MANIFEST_TYPE).optional(),
  config: descriptor(z.literal(OCI_CONFIG_TYPE)),
  layers: z
    .array(descriptor(z.enum(Object.keys(OCI_LAYER_TYPES) as [keyof typeof OCI_LAYER_TYPES])))
    .max(127),
});
export type OciManifest = z.infer<typeof ociManifestSchema>;

const stringList = (max: number) => z.array(z.string().max(4096)).max(max);

/** The parts of an OCI image config that say how to run it. */
export const ociConfigSchema = z.object({
  architecture: z.string().max(64).optional(),
  os: z.string().max(64).optional(),
  config: z
    .object({
      Entrypoint: stringList(256).nullish(),
      Cmd: stringList(256).nullish(),
      Env: z
        .array(
          z
            .string()
            .regex(/^[A-Za-z_][A-Za-z0-9_]*=/, 'must be NAME=value')
            .max(8192),
        )
        .max(256)
        .nullish(),
      WorkingDir: z.string().max(4096).nullish(),
      /** Who the process runs as: `uid`, `uid:gid`, or names from the image's /etc/passwd and /etc/group. */
      User: z
        .string()
        .max(256)
        .regex(/^([A-Za-z0-9._-]+(:[A-Za-z0-9._-]+)?)?$/, 'must be user[:group], by name or number')
        .nullish(),
    })
    .nullish(),
});
export type OciConfig = z.infer<typeof ociConfigSchema>;

/** An OCI image layout's `index.json`: the manifests it holds, by tag. */
export const ociIndexSchema = z.object({
  schemaVersion: z.literal(2),
  manifests: z
    .array(
      descriptor(z.string().max(256)).extend({
        annotations: z.record(z.string().max(256), z.string().max(1024)).optional(),
      }),
    )
    .max(1024),
});
export type OciIndex = z.infer<typeof ociIndexSchema>;

/** The hex sha256 of a `sha256:` digest. */
export function sha256Of(digest: string): string {
  return ociDigestSchema.parse(digest).slice('sha256:'.length);
}
