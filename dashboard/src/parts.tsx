import type { ApiProblem, StoredEvent } from './api.ts';

export function Problem({ error }: { error: ApiProblem }) {
  return (
    <p role="alert" class="error">
      {error.code}: {error.message}
    </p>
  );
}

/** One line of what an event says: its summary, reason or error, else its wave or revision. */
export function detailOf(data: Record<string, unknown>): string {
  const error = data['error'] as { code?: string; message?: string } | undefined;
  if (typeof data['summary'] === 'string') return data['summary'];
  if (typeof data['reason'] === 'string') return data['reason'];
  if (error?.code) return `${error.code}: ${error.message ?? ''}`;
  if (typeof data['wave'] === 'number') return `wave ${data['wave']}`;
  return typeof data['revision'] === 'string' ? data['revision'] : '';
}

/** An event's time as people read it: to the second, in UTC. */
export function timeOf(at: string): string {
  return `${at.slice(0, 10)} ${at.slice(11, 19)}`;
}

/** Events, newest first: when, what, who asked, and what it says. */
export function EventTable({ events, label }: { events: readonly StoredEvent[]; label: string }) {
  return (
    <table aria-label={label}>
      <thead>
        <tr>
          <th scope="col">When (UTC)</th>
          <th scope="col">Event</th>
          <th scope="col">By</th>
          <th scope="col">Detail</th>
        </tr>
      </thead>
      <tbody>
        {[...events].reverse().map(({ sequence, event }) => (
          <tr key={sequence}>
            <td class="when">
              <time dateTime={event.at}>{timeOf(event.at)}</time>
            </td>
            <td>{event.type}</td>
            <td>{typeof event.data['by'] === 'string' ? event.data['by'] : ''}</td>
            <td class="why">{detailOf(event.data)}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
