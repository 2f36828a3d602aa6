import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { eventually } from './eventually.ts';

// Node cannot bind an AF_UNIX datagram socket: python3 does it, and prints each datagram as a JSON string.
const RECEIVER = `
import json, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
print(json.dumps("BOUND"), flush=True)
while True:
    print(json.dumps(s.recv(65536).decode()), flush=True)
`;

/** A service manager's notification socket, as systemd's NOTIFY_SOCKET: every message it received. */
export interface NotifySocket {
  path: string;
  /** Each message's assignments (`READY=1`, …), oldest first. */
  messages: string[][];
  /** Resolves with the first message that has `assignment`. */
  received(assignment: string): Promise<string[]>;
  close(): Promise<void>;
}

export async function bindNotifySocket(): Promise<NotifySocket> {
  const dir = await mkdtemp(join(tmpdir(), 'uproll-notify-'));
  const path = join(dir, 'notify.sock');
  const receiver = spawn('python3', ['-c', RECEIVER, path], { stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = once(receiver, 'exit');
  const failed = once(receiver, 'error').then(([err]) => {
    throw new Error(`cannot run python3 to bind a datagram socket (install python3): ${String(err)}`);
  });
  const messages: string[][] = [];
  let bound = false;
  createInterface({ input: receiver.stdout }).on('line', (line) => {
    const text = JSON.parse(line) as string;
    if (text === 'BOUND') bound = true;
    // systemd-notify's own wait for the manager to have read the message before; not the agent's.
    else if (text !== 'BARRIER=1') messages.push(text.split('\n'));
  });
  await Promise.race([eventually('python3 to bind the notify socket', () => bound), failed]);
  return {
    path,
    messages,
    received: (assignment) =>
      eventually(`a notification with ${assignment}`, () => messages.find((m) => m.includes(assignment))),
    async close() {
      if (receiver.exitCode === null && receiver.signalCode === null) {
        receiver.kill('SIGKILL');
        await exited;
      }
      await rm(dir, { recursive: true, force: true });
    },
  };
}
