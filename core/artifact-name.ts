import { z } from 'zod';
import { REVISIONS_PREFIX } from './state-revision.ts';

/** TUF target path cap (as `checkTargetPath` enforces it). */
export const MAX_TARGET_PATH_LENGTH = 1024;
/**
 * A segment's cap: the repository stores a target as one file named
 * `<sha256>.<last segment>`, and a file name holds at most 255 bytes.
 */
export const MAX_TARGET_SEGMENT_LENGTH = 255 - 65;

/**
 * The name of a plain artifact as a release manager publishes it: a TUF
 * target path of plain segments the repository server serves
 * (`[A-Za-z0-9._-]`, never `.` or `..`), within the caps above, and never
 * under `revisions/`, which holds state revision documents only.
 */
export const artifactNameSchema = z
  .string()
  .min(1)
  .max(MAX_TARGET_PATH_LENGTH)
  .refine(
    (name) =>
      name
        .split('/')
        .every(
          (segment) =>
            /^[A-Za-z0-9._-]+$/.test(segment) &&
            segment.length <= MAX_TARGET_SEGMENT_LENGTH &&
            !/^\.+$/.test(segment),
        ),
    `must be a relative path of plain segments (A-Z a-z 0-9 . _ -, at most ${MAX_TARGET_SEGMENT_LENGTH} characters each, never . or ..)`,
  )
  .refine(
    (name) => !name.startsWith(REVISIONS_PREFIX),
    `${REVISIONS_PREFIX} is reserved for state revisions: publish them with uproll release revision`,
  );
