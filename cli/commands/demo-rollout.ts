import type { NatsConnection } from '@nats-io/transport-node';
import type { DomainEvent, RolloutPolicyInput } from '../../core/index.ts';
import { onJson } from '../../adapters/nats/index.ts';
import { startRollout } from '../../services/temporal/index.ts';
import type { RolloutResult } from '../../workflows/contracts.ts';

/** Waves for the demo: a small canary, then 10%, 50%, everyone; a failure rate over 10% stops it. */
export const DEMO_POLICY: RolloutPolicyInput = {
  canary: 10,
  waves: { percentages: [10, 50, 100] },
  maxInFlight: 50,
  gate: { minSample: 5, maxFailureRate: 0.1 },
  onBreach: 'abort_and_rollback',
};

/** A rollout the demo ran, and of which revision. */
export type DemoRollout = RolloutResult & { revision: string };

/** Starts one rollout of `revision` to every device of `hardwareId` and tells its story from the event log until it ends. */
export async function rollOut(
  nc: NatsConnection,
  client: Parameters<typeof startRollout>[0],
  revision: string,
  hardwareId: string,
  say: (line: string) => void,
): Promise<DemoRollout> {
  const rolloutId = `demo-${revision.replaceAll('.', '-')}-${Date.now().toString(36)}`;
  const started = Date.now();
  const seconds = () => `${((Date.now() - started) / 1000).toFixed(1).padStart(5)} s`;
  const events = nc.subscribe(`uproll.evt.rollout.${rolloutId}`, {
    callback: onJson<DomainEvent<string, Record<string, unknown>>>((event) => {
      const line = describe(event);
      if (line) say(`  ${seconds()}  ${line}`);
    }),
  });
  try {
    const handle = await startRollout(client, {
      rolloutId,
      revision,
      target: { hardwareId },
      policy: DEMO_POLICY,
      startedBy: 'demo',
    });
    return { ...(await handle.result()), revision };
  } finally {
    await nc.flush();
    events.unsubscribe();
  }
}

function describe(event: DomainEvent<string, Record<string, unknown>>): string | undefined {
  const data = event.data;
  const reason = typeof data['reason'] === 'string' ? data['reason'] : '';
  const counts = data['counts'] as { committed: number; rolledBack: number; failed: number } | undefined;
  const tally = counts
    ? `${counts.committed} committed, ${counts.rolledBack} rolled back, ${counts.failed} failed`
    : '';
  switch (event.type) {
    case 'rollout.started':
      return `rollout started: waves of ${(data['waves'] as number[]).join(', ')} devices`;
    case 'rollout.wave.started':
      return `wave ${String(data['wave'])}${data['wave'] === 0 ? ' (canary)' : ''}: ${String(data['devices'])} devices updating`;
    case 'rollout.wave.finished':
      return `wave ${String(data['wave'])} done: ${tally}`;
    case 'rollout.gate.passed':
      return 'gate passed: failure rate within policy';
    case 'rollout.gate.failed':
      return `GATE FAILED: ${reason}`;
    case 'rollout.aborted':
      return reason ? `rollout stopped (${reason})` : undefined;
    case 'rollout.rolled_back':
      return `every device the rollout touched is back on its previous revision: ${tally}`;
    case 'rollout.completed':
      return `rollout completed: ${tally}`;
    default:
      return undefined;
  }
}
