import { mkdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import {
  MAX_REVISION_BYTES,
  parseJson,
  stateRevisionSchema,
  updateCommandSchema,
  type StateRevision,
} from '../core/index.ts';
import { writeFileAtomic } from '../adapters/fs/index.ts';
import { PRIVATE } from './data-dir.ts';
import { deploymentSchema } from './boot-control.ts';

const historyEntrySchema = deploymentSchema.extend({
  outcome: z.enum(['committed', 'rolled_back', 'failed']),
  at: z.iso.datetime(),
  error: z.object({ code: z.string(), message: z.string() }).optional(),
});
export type HistoryEntry = z.infer<typeof historyEntrySchema>;
const historySchema = z.array(historyEntrySchema);

const pendingSchema = z.object({ command: updateCommandSchema, starts: z.int().min(0) });
export type PendingUpdate = z.infer<typeof pendingSchema>;

/** Outcomes kept in the history (and revisions whose objects stay on the device). */
export const HISTORY_LENGTH = 20;
const MAX_FILE_BYTES = 1024 * 1024;

/**
 * What the device installed and how each attempt ended, the verified
 * revision documents it may go back or forward to without the network, and
 * the update in flight (so a crash mid-update is resumed, not forgotten).
 * Every file is replaced atomically and checked when read: a damaged one is
 * reported and treated as empty, never trusted.
 */
export class RevisionHistory {
  readonly #dir: string;
  readonly #onDamage: (problem: string) => void;

  constructor(dataDir: string, onDamage: (problem: string) => void = () => {}) {
    this.#dir = dataDir;
    this.#onDamage = onDamage;
  }

  async entries(): Promise<HistoryEntry[]> {
    return (await this.#read(join(this.#dir, 'history.json'), historySchema)) ?? [];
  }

  async record(entry: HistoryEntry): Promise<void> {
    const entries = [...(await this.entries()), entry].slice(-HISTORY_LENGTH);
    await this.#write('history.json', entries);
  }

  /** Keeps a verified revision document, so the device can install it again later. */
  async keep(revision: StateRevision): Promise<void> {
    await mkdir(join(this.#dir, 'revisions'), { recursive: true });
    await this.#write(join('revisions', `${revision.name}.json`), revision);
  }

  /** A revision document kept earlier, or undefined. */
  revision(name: string): Promise<StateRevision | undefined> {
    const safe = stateRevisionSchema.shape.name.safeParse(name);
    if (!safe.success) return Promise.resolve(undefined);
    return this.#read(join(this.#dir, 'revisions', `${safe.data}.json`), stateRevisionSchema);
  }

  async pending(): Promise<PendingUpdate | undefined> {
    return this.#read(join(this.#dir, 'pending.json'), pendingSchema);
  }

  async setPending(pending: PendingUpdate | undefined): Promise<void> {
    if (pending) await this.#write('pending.json', pending);
    else await rm(join(this.#dir, 'pending.json'), { force: true });
  }

  async #read<S extends z.ZodType>(path: string, schema: S): Promise<z.infer<S> | undefined> {
    const bytes = await readFile(path).catch(() => undefined);
    if (!bytes) return undefined;
    try {
      return parseJson(schema, bytes, { maxBytes: Math.max(MAX_FILE_BYTES, MAX_REVISION_BYTES), what: path });
    } catch (err) {
      this.#onDamage(`${(err as Error).message}; ignoring it`);
      return undefined;
    }
  }

  async #write(name: string, value: unknown): Promise<void> {
    await mkdir(this.#dir, { recursive: true });
    await writeFileAtomic(join(this.#dir, name), `${JSON.stringify(value, null, 2)}\n`, PRIVATE);
  }
}
