import { assertToken, MAX_TAGS_PER_DEVICE, tagChange, UprollError } from '../../core/index.ts';
import { DirectorRepository, tagDevice } from '../../services/director/index.ts';
import { actorOf, byOption, recordAudit } from '../audit.ts';
import { UsageError, type Command } from '../command.ts';
import { directorDir, locationOptions } from '../locations.ts';
import { deploymentOptions } from '../deployment.ts';

export const devicesTag: Command = {
  name: 'devices tag',
  summary:
    'Add or remove tags of a device (its groups): `rollout start --tag TAG` targets every device carrying one.',
  usage: 'uproll devices tag DEVICE_ID [TAG...] [--remove TAG...] --by NAME [--director DIR] [--json]',
  details:
    `A tag is 1-64 of a-z 0-9 . _ -, starting with a letter or digit; a device carries at most ${MAX_TAGS_PER_DEVICE}.\n` +
    'Kept by the Director. A rollout to a tag that is still running gives its release to a device tagged meanwhile.\n' +
    'Each change is a device.tagged event on the audit trail, with who made it, sent to the event log\n' +
    'of the deployment --temporal, --nats and --nats-seed-file name (or $UPROLL_TEMPORAL, $UPROLL_NATS\n' +
    'and $UPROLL_NATS_CREDS), else of the local stack; unreachable, it waits in the audit outbox.',
  options: {
    ...locationOptions,
    ...deploymentOptions,
    remove: {
      type: 'string',
      multiple: true,
      description: 'a tag to take off the device (repeat for several)',
    },
    ...byOption,
  },
  async run({ values, positionals }, io) {
    const by = actorOf(values);
    const [deviceId, ...add] = positionals;
    const remove = (values['remove'] as string[] | undefined) ?? [];
    if (!deviceId) throw new UsageError('name the DEVICE_ID, then the tags to add (or --remove TAG)');
    if (add.length === 0 && remove.length === 0) throw new UsageError('name a TAG to add or --remove TAG');
    assertToken(deviceId, 'device id');
    if (add.length > MAX_TAGS_PER_DEVICE || remove.length > MAX_TAGS_PER_DEVICE)
      throw new UprollError('INVALID_INPUT', `a device carries at most ${MAX_TAGS_PER_DEVICE} tags`);
    const { before, after } = await tagDevice(new DirectorRepository(directorDir(values)), deviceId, {
      add,
      remove,
    });
    const { added, removed, summary } = tagChange(before, after);
    if (added.length > 0 || removed.length > 0)
      await recordAudit(values, io, by, {
        aggregate: 'device',
        aggregateId: deviceId,
        type: 'device.tagged',
        data: { summary, added, removed, tags: after },
      });
    io.out(
      values.json
        ? JSON.stringify({ deviceId, tags: after, added, removed })
        : `${deviceId}: ${after.length > 0 ? after.join(' ') : 'no tags'}${added.length + removed.length === 0 ? ' (unchanged)' : ''}`,
    );
    return 0;
  },
};
