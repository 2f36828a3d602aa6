import type { Connection } from '@temporalio/client';
import { describe, expect, it } from 'vitest';
import { ensureTemporalReady } from '../../../services/temporal/index.ts';

// What serve and worker find on a Temporal at start, for the cases the dev server of the
// integration tests cannot show: a search attribute of another type, a caller not allowed to list
// them, and the local stack's registration of one it lacks. The frontend here is a fake.

const KEYWORD = 2;
const TEXT = 1;

/** A gRPC error as the SDK's client raises it. */
function grpcError(code: number, details: string) {
  return Object.assign(new Error(`${code} ${details}`), { code, details, metadata: {} });
}

function frontend(listed: Record<string, number> | Error) {
  const added: Record<string, number>[] = [];
  const connection = {
    workflowService: { describeNamespace: () => Promise.resolve({}) },
    operatorService: {
      listSearchAttributes: () =>
        listed instanceof Error
          ? Promise.reject(listed)
          : Promise.resolve({ systemAttributes: {}, customAttributes: listed }),
      addSearchAttributes: ({ searchAttributes }: { searchAttributes: Record<string, number> }) => {
        added.push(searchAttributes);
        return Promise.resolve({});
      },
    },
  } as unknown as Connection;
  return { connection, added };
}

const at = { namespace: 'uproll', address: 'temporal.example.com:7233' };

describe("the check of a Temporal's namespace and search attributes", () => {
  it('passes when both attributes are Keyword', async () => {
    const { connection } = frontend({ UprollDeviceId: KEYWORD, UprollRolloutId: KEYWORD });
    await expect(ensureTemporalReady(connection, at)).resolves.toEqual([]);
  });

  it('refuses an attribute of another type, which no command can change', async () => {
    const { connection } = frontend({ UprollDeviceId: TEXT, UprollRolloutId: KEYWORD });
    const check = ensureTemporalReady(connection, at);
    await expect(check).rejects.toThrowWithCode('TEMPORAL_NOT_READY');
    await expect(check).rejects.toThrow('search attribute UprollDeviceId is not of type Keyword');
  });

  it('names the one attribute missing and the command that creates it', async () => {
    const { connection } = frontend({ UprollDeviceId: KEYWORD });
    await expect(ensureTemporalReady(connection, at)).rejects.toThrow(
      'search attribute UprollRolloutId (Keyword) not registered on namespace uproll of the Temporal at ' +
        'temporal.example.com:7233: create it with `temporal operator search-attribute create --namespace uproll ' +
        '--name UprollRolloutId --type Keyword --address temporal.example.com:7233`',
    );
  });

  it('registers what is missing on the local stack', async () => {
    const { connection, added } = frontend({});
    await expect(ensureTemporalReady(connection, { ...at, register: true })).resolves.toEqual([]);
    expect(added).toEqual([{ UprollDeviceId: KEYWORD, UprollRolloutId: KEYWORD }]);
  });

  it('notes, without failing, a caller that may not list them', async () => {
    const { connection } = frontend(grpcError(7, 'Request unauthorized.'));
    await expect(ensureTemporalReady(connection, at)).resolves.toEqual([
      { unchecked: 'the search attributes of namespace uproll: Request unauthorized.' },
    ]);
  });
});
