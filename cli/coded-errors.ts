import {
  WorkflowExecutionAlreadyStartedError,
  WorkflowNotFoundError,
  WorkflowUpdateFailedError,
} from '@temporalio/client';
import { ZodError } from 'zod';
import { isUprollError, UprollError } from '../core/index.ts';

const ROLLOUT_WORKFLOW_PREFIX = 'rollout/';

/** What an id names, for messages: `rollout/r1` is rollout r1, anything else its workflow id. */
function workflowName(workflowId: string): { rollout?: string; text: string } {
  if (!workflowId.startsWith(ROLLOUT_WORKFLOW_PREFIX)) return { text: `workflow ${workflowId}` };
  const rollout = workflowId.slice(ROLLOUT_WORKFLOW_PREFIX.length);
  return { rollout, text: `rollout ${rollout}` };
}

/**
 * The coded error an operator sees for a failure: an UprollError as it is,
 * the errors of the libraries we know (Temporal, zod, the file system) with
 * their own code, and anything else as INTERNAL_ERROR, so that every
 * failure prints as one `uproll: CODE: message` line.
 */
export function codedErrorOf(err: unknown): UprollError {
  if (isUprollError(err)) return err;
  if (err instanceof WorkflowNotFoundError) {
    const { rollout, text } = workflowName(err.workflowId);
    return rollout === undefined
      ? new UprollError('WORKFLOW_NOT_FOUND', `${text} does not exist`, { cause: err })
      : new UprollError('ROLLOUT_NOT_FOUND', `${text} does not exist (uproll rollout start creates it)`, {
          cause: err,
        });
  }
  if (err instanceof WorkflowExecutionAlreadyStartedError) {
    const { rollout, text } = workflowName(err.workflowId);
    return new UprollError(
      rollout === undefined ? 'WORKFLOW_EXISTS' : 'ROLLOUT_EXISTS',
      `${text} already exists: an id is used once, choose another`,
      { cause: err },
    );
  }
  if (err instanceof WorkflowUpdateFailedError)
    return new UprollError('COMMAND_REJECTED', err.cause?.message ?? err.message, { cause: err });
  if (err instanceof ZodError) {
    const problems = err.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
    return new UprollError('INVALID_INPUT', problems, { cause: err });
  }
  if (isSystemError(err) && err.code === 'ENOENT')
    return new UprollError('FILE_NOT_FOUND', err.message, { cause: err });
  const message = err instanceof Error ? err.message : String(err);
  return new UprollError('INTERNAL_ERROR', message.split('\n')[0] ?? '', { cause: err });
}

/** A Node.js system error (`ENOENT: no such file or directory, open 'x'`). */
function isSystemError(err: unknown): err is Error & { code: string; syscall: string } {
  return err instanceof Error && typeof (err as { syscall?: unknown }).syscall === 'string';
}
