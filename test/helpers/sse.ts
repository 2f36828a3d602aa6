/** One server-sent event: its name and its data, parsed as JSON. */
export interface ServerSentEvent {
  event: string;
  data: unknown;
}

/**
 * Reads a server-sent event stream from `response` in the background, keeping
 * every event; `close` cancels it. Comment lines and bare keepalives are skipped.
 */
export function collectEvents(response: Response): { events: ServerSentEvent[]; close(): Promise<void> } {
  const events: ServerSentEvent[] = [];
  const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
  let buffered = '';
  const reading = (async () => {
    for (;;) {
      const { value, done } = await reader.read().catch(() => ({ value: undefined, done: true }));
      if (done) return;
      buffered += value;
      let end: number;
      while ((end = buffered.indexOf('\n\n')) !== -1) {
        const block = buffered.slice(0, end);
        buffered = buffered.slice(end + 2);
        const field = (name: string) =>
          block
            .split('\n')
            .filter((line) => line.startsWith(`${name}:`))
            .map((line) => line.slice(name.length + 1).trimStart())
            .join('\n');
        if (field('data') !== '')
          events.push({ event: field('event') || 'message', data: JSON.parse(field('data')) });
      }
    }
  })();
  return {
    events,
    async close() {
      await reader.cancel().catch(() => {});
      await reading;
    },
  };
}
