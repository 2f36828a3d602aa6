/**
 * The reader of our output can go away before we are done: `uproll ... | head -1`, a pager that
 * quits, journald restarting under systemd. Node ignores SIGPIPE, so the next write fails with
 * EPIPE, and an EPIPE that nobody handles kills the process with a stack trace: a server then dies
 * mid-request, a stop half-way (exit 1), the agent possibly mid-update.
 *
 * The same for `uproll`, `uproll-tuf` and `uproll-agent`: what is written to a closed stdout or
 * stderr is dropped, and the command goes on to its own end and exit status. A one-shot command so
 * finishes what it changes and cleans up (exiting at the first EPIPE, as git does on SIGPIPE, could
 * stop `release publish` or `demo` half-way), and a listing under `| head` exits 0, not 141: the
 * reader had what it wanted, and `set -o pipefail` scripts must not fail on it. A server keeps
 * serving without its log lines. A command that only prints as things happen (`rollout watch`,
 * `events tail --follow`) stops following at `outputClosed` and exits 0: nobody is left to read it.
 */

const closed = new AbortController();

/** Aborts once the reader of stdout went away. */
export const outputClosed: AbortSignal = closed.signal;

/** Installs the policy above on the process's stdout and stderr; the entry point calls it once. */
export function surviveClosedPipes(): void {
  for (const stream of [process.stdout, process.stderr])
    stream.on('error', (err: NodeJS.ErrnoException) => {
      // Another failure of our own output is not the reader's doing: let it end the process as before.
      if (err.code !== 'EPIPE') throw err;
      if (stream === process.stdout) closed.abort();
    });
}
