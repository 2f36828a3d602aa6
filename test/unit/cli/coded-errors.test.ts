import { WorkflowExecutionAlreadyStartedError, WorkflowNotFoundError } from '@temporalio/client';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { codedErrorOf } from '../../../cli/coded-errors.ts';
import { UprollError } from '../../../core/index.ts';

const codeAndMessage = (err: unknown) => {
  const coded = codedErrorOf(err);
  return `${coded.code}: ${coded.message}`;
};

describe('the code an operator sees for a failure', () => {
  it('keeps the code of an UprollError', () => {
    expect(codeAndMessage(new UprollError('DEVICE_BUSY', 'busy'))).toBe('DEVICE_BUSY: busy');
  });

  describe('when Temporal has no such workflow', () => {
    it('is ROLLOUT_NOT_FOUND for a rollout, naming it', () => {
      const err = new WorkflowNotFoundError('workflow not found', 'rollout/r-7', undefined);
      expect(codeAndMessage(err)).toBe(
        'ROLLOUT_NOT_FOUND: rollout r-7 does not exist (uproll rollout start creates it)',
      );
    });
    it('is WORKFLOW_NOT_FOUND for another workflow', () => {
      const err = new WorkflowNotFoundError('workflow not found', 'device-update/d/r', undefined);
      expect(codeAndMessage(err)).toBe('WORKFLOW_NOT_FOUND: workflow device-update/d/r does not exist');
    });
  });

  it('is ROLLOUT_EXISTS for a rollout id used before', () => {
    const err = new WorkflowExecutionAlreadyStartedError('already started', 'rollout/r-7', 'rolloutWorkflow');
    expect(codeAndMessage(err)).toBe(
      'ROLLOUT_EXISTS: rollout r-7 already exists: an id is used once, choose another',
    );
  });

  it('is INVALID_INPUT naming each bad field of a schema', () => {
    const result = z.object({ waves: z.array(z.number()) }).safeParse({ waves: ['x'] });
    expect(codeAndMessage(result.error)).toMatch(/^INVALID_INPUT: waves\.0: /);
  });

  it('is INTERNAL_ERROR, in one line, for anything else', () => {
    expect(codeAndMessage(new TypeError('x is undefined\n  more detail'))).toBe(
      'INTERNAL_ERROR: x is undefined',
    );
    expect(codeAndMessage('a thrown string')).toBe('INTERNAL_ERROR: a thrown string');
  });
});
