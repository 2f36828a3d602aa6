import type { ApiProblem } from './api.ts';

export function Problem({ error }: { error: ApiProblem }) {
  return (
    <p role="alert" class="error">
      {error.code}: {error.message}
    </p>
  );
}

/** One line of what an event says: its summary, else its error, else its revision. */
export function detailOf(data: Record<string, unknown>): string {
  const error = data['error'] as { code?: string; message?: string } | undefined;
  if (typeof data['summary'] === 'string') return data['summary'];
  if (error?.code) return `${error.code}: ${error.message ?? ''}`;
  return typeof data['revision'] === 'string' ? data['revision'] : '';
}
