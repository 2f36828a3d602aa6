import { afterEach, describe, expect, it } from 'vitest';
import { UsageError } from '../../../cli/command.ts';
import { taskQueueOf } from '../../../cli/task-queue.ts';

afterEach(() => {
  delete process.env['UPROLL_TASK_QUEUE'];
});

describe('the task queue of a deployment', () => {
  it('is uproll unless the deployment names its own', () => {
    expect(taskQueueOf({})).toBe('uproll');
  });

  it('is $UPROLL_TASK_QUEUE for every command of a deployment that sets it', () => {
    process.env['UPROLL_TASK_QUEUE'] = 'fleet-eu';
    expect(taskQueueOf({})).toBe('fleet-eu');
  });

  it('is --task-queue above all', () => {
    process.env['UPROLL_TASK_QUEUE'] = 'fleet-eu';
    expect(taskQueueOf({ 'task-queue': 'fleet-us' })).toBe('fleet-us');
  });

  it.each([[''], ['two words'], ['a/b'], ['x'.repeat(129)]])('refuses %j as a command line error', (name) => {
    expect(() => taskQueueOf({ 'task-queue': name })).toThrow(UsageError);
  });
});
