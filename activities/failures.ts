import { ApplicationFailure } from '@temporalio/activity';
import { isPermanent, isUprollError } from '../core/index.ts';

/**
 * Runs an activity body and turns an {@link UprollError} into an
 * `ApplicationFailure` whose type is the error's code, non-retryable when
 * retrying cannot help. Other errors pass through and are retried.
 */
export async function withCodedFailures<T>(body: () => Promise<T>): Promise<T> {
  try {
    return await body();
  } catch (err) {
    if (!isUprollError(err)) throw err;
    throw ApplicationFailure.create({
      type: err.code,
      message: err.message,
      nonRetryable: isPermanent(err.code),
      cause: err.cause instanceof Error ? err.cause : undefined,
    });
  }
}
