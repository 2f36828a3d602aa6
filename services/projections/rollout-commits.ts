import type { NatsConnection } from '@nats-io/transport-node';
import { RolloutCommits, type RolloutCommit } from '../../core/index.ts';
import { EventLog } from '../nats/index.ts';
import { readEvents } from './event-reader.ts';

/**
 * The devices a rollout left on its revision and what each ran before,
 * from the event log alone (it keeps them for good; Temporal forgets a
 * closed rollout after its retention). Reads the device log up to the
 * rollout's last event of its own: its device events all come before it.
 * Empty for a rollout the log does not know.
 */
export async function readRolloutCommits(nc: NatsConnection, rolloutId: string): Promise<RolloutCommit[]> {
  const end = await rolloutEnd(nc, rolloutId);
  return end === undefined ? [] : readRolloutCommitsUpTo(nc, rolloutId, end);
}

/** Stream sequence of the rollout's last event of its own (its rollbacks' aside); undefined when it has none. */
export async function rolloutEnd(nc: NatsConnection, rolloutId: string): Promise<number | undefined> {
  const own = (await new EventLog(nc).read('rollout', rolloutId)).filter(
    ({ event }) => !event.type.startsWith('rollout.rollback.'),
  );
  return own.at(-1)?.sequence;
}

/** {@link readRolloutCommits} as of stream sequence `end`: the whole device log up to it, once. */
export async function readRolloutCommitsUpTo(
  nc: NatsConnection,
  rolloutId: string,
  end: number,
): Promise<RolloutCommit[]> {
  const commits = new RolloutCommits(rolloutId);
  for await (const stored of readEvents(nc, { filter: 'uproll.evt.device.>' })) {
    if (stored.sequence > end) break;
    commits.add(stored.event);
  }
  return commits.devices();
}
