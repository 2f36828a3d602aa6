import { isGrpcServiceError, type Connection } from '@temporalio/client';
import { UprollError } from '../../core/index.ts';
import { SEARCH_ATTRIBUTES } from './search-attributes.ts';

// What a Temporal must have before Uproll's workers and clients can use it: the namespace, and on
// it the custom search attributes device updates and rollouts are started with (a start that
// names an unregistered one fails, deep inside a rollout). The dev server of the local stack
// registers them itself; a cluster's operator creates both once.

/** gRPC status codes the checks tell apart (google.rpc.Code). */
const GRPC = { NOT_FOUND: 5, PERMISSION_DENIED: 7, UNIMPLEMENTED: 12 } as const;

/** temporal.api.enums.v1.IndexedValueType, by the name the `temporal` CLI takes. */
const INDEXED_VALUE_TYPE = {
  Text: 1,
  Keyword: 2,
  Int: 3,
  Double: 4,
  Bool: 5,
  Datetime: 6,
  KeywordList: 7,
} as const;
type AttributeType = keyof typeof INDEXED_VALUE_TYPE;

export interface TemporalReadiness {
  namespace: string;
  /** The frontend's address, for messages and the commands they suggest. */
  address: string;
  /** Register missing search attributes instead of failing (the local stack's dev server). */
  register?: boolean;
}

/** What a check could not establish, for a warning: it ran without the rights to look. */
export interface ReadinessNote {
  unchecked: string;
}

/**
 * Fails with TEMPORAL_NOT_READY, naming what is missing and the `temporal
 * operator` command that creates it, unless the namespace exists.
 */
export async function requireNamespace(connection: Connection, { namespace, address }: TemporalReadiness) {
  try {
    await connection.workflowService.describeNamespace({ namespace });
  } catch (err) {
    if (!isGrpcServiceError(err) || Number(err.code) !== GRPC.NOT_FOUND) throw err;
    throw new UprollError(
      'TEMPORAL_NOT_READY',
      `namespace ${namespace} does not exist on the Temporal at ${address}: create it with ` +
        `\`temporal operator namespace create --namespace ${namespace} --retention 30d --address ${address}\``,
      { cause: err },
    );
  }
}

/**
 * Checks the namespace and Uproll's search attributes on it: TEMPORAL_NOT_READY
 * for one that is missing (registered instead, with `register`) or of another
 * type. A server that does not let this caller list them is noted, not failed.
 */
export async function ensureTemporalReady(
  connection: Connection,
  readiness: TemporalReadiness,
): Promise<ReadinessNote[]> {
  await requireNamespace(connection, readiness);
  const { namespace, address } = readiness;
  let registered: Record<string, number>;
  try {
    const listed = await connection.operatorService.listSearchAttributes({ namespace });
    registered = Object.fromEntries(
      Object.entries({ ...listed.systemAttributes, ...listed.customAttributes }).map(([name, type]) => [
        name,
        Number(type),
      ]),
    );
  } catch (err) {
    if (
      !isGrpcServiceError(err) ||
      ![GRPC.PERMISSION_DENIED, GRPC.UNIMPLEMENTED].includes(Number(err.code) as 7 | 12)
    )
      throw err;
    return [{ unchecked: `the search attributes of namespace ${namespace}: ${err.details ?? err.message}` }];
  }
  const wanted = Object.entries(SEARCH_ATTRIBUTES) as [string, AttributeType][];
  const missing = wanted.filter(([name]) => registered[name] === undefined);
  const mistyped = wanted.filter(
    ([name, type]) => registered[name] !== undefined && registered[name] !== INDEXED_VALUE_TYPE[type],
  );
  if (mistyped.length > 0)
    throw new UprollError(
      'TEMPORAL_NOT_READY',
      `on namespace ${namespace} of the Temporal at ${address}, ` +
        mistyped.map(([name, type]) => `search attribute ${name} is not of type ${type}`).join(', ') +
        ': Uproll needs a namespace where it is (a search attribute cannot change its type)',
    );
  if (missing.length === 0) return [];
  if (readiness.register) {
    await connection.operatorService.addSearchAttributes({
      namespace,
      searchAttributes: Object.fromEntries(missing.map(([name, type]) => [name, INDEXED_VALUE_TYPE[type]])),
    });
    return [];
  }
  throw new UprollError(
    'TEMPORAL_NOT_READY',
    `search attribute${missing.length > 1 ? 's' : ''} ${missing.map(([name, type]) => `${name} (${type})`).join(', ')} ` +
      `not registered on namespace ${namespace} of the Temporal at ${address}: create ` +
      `${missing.length > 1 ? 'them' : 'it'} with ${createCommands(missing, namespace, address)}`,
  );
}

/** One `temporal operator search-attribute create` per type (it takes one --type for its --names). */
function createCommands(missing: [string, AttributeType][], namespace: string, address: string): string {
  const types = [...new Set(missing.map(([, type]) => type))];
  return types
    .map((type) => {
      const names = missing.filter(([, t]) => t === type).map(([name]) => `--name ${name}`);
      return `\`temporal operator search-attribute create --namespace ${namespace} ${names.join(' ')} --type ${type} --address ${address}\``;
    })
    .join(' and ');
}
