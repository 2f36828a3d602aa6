import { ApplicationFailure } from '@temporalio/common';
import { describe, expect, it } from 'vitest';
import { isIntendedWorkflowFailure } from '../../../services/temporal/runtime.ts';

describe("the Temporal runtime's log", () => {
  it('leaves out a workflow that failed as it meant to: a device update failed with its code', () => {
    const error = ApplicationFailure.nonRetryable('the health check failed', 'HEALTH_CHECK_FAILED');
    expect(isIntendedWorkflowFailure('Workflow failed', { error })).toBe(true);
  });

  it('keeps a workflow that failed by a bug, and every other line', () => {
    expect(isIntendedWorkflowFailure('Workflow failed', { error: new TypeError('x is undefined') })).toBe(
      false,
    );
    const error = ApplicationFailure.nonRetryable('refused', 'COMMAND_REJECTED');
    expect(isIntendedWorkflowFailure('Activity failed', { error })).toBe(false);
    expect(isIntendedWorkflowFailure('Workflow failed')).toBe(false);
  });
});
