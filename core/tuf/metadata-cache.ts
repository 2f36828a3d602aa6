/** Trusted metadata kept between refreshes, by role name (unversioned). */
export interface MetadataCache {
  load(role: string): Promise<Uint8Array | undefined>;
  save(role: string, bytes: Uint8Array): Promise<void>;
}

export const NO_CACHE: MetadataCache = {
  load: () => Promise.resolve(undefined),
  save: () => Promise.resolve(),
};
