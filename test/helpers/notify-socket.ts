import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { eventually } from './eventually.ts';

// Node cannot bind an AF_UNIX datagram socket: python3 does it, and prints each datagram as a JSON
// string. systemd-notify waits, after its message, until the file descriptor it sends with BARRIER=1
// is closed: the receiver keeps those open while told to on stdin ("hold"), until "release".
const RECEIVER = `
import array, json, os, select, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
print(json.dumps("BOUND"), flush=True)
hold, held = False, []
def release():
    while held: os.close(held.pop())
while True:
    ready, _, _ = select.select([s, sys.stdin], [], [])
    if sys.stdin in ready:
        hold = sys.stdin.readline().strip() == "hold"
        if not hold: release()
        print(json.dumps("HOLD" if hold else "RELEASED"), flush=True)
    if s in ready:
        data, ancillary, _, _ = s.recvmsg(65536, socket.CMSG_SPACE(16 * 4))
        for level, kind, fds in ancillary:
            if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                held.extend(array.array("i", fds[: len(fds) - len(fds) % 4]))
        if not hold: release()
        print(json.dumps(data.decode()), flush=True)
`;

/** A service manager's notification socket, as systemd's NOTIFY_SOCKET: every message it received. */
export interface NotifySocket {
  path: string;
  /** Each message's assignments (`READY=1`, …), oldest first. */
  messages: string[][];
  /** Resolves with the first message that has `assignment`. */
  received(assignment: string): Promise<string[]>;
  /** Keeps systemd-notify waiting after each message from now on, as a busy service manager would. */
  holdBarriers(): Promise<void>;
  /** Lets every systemd-notify kept waiting go on. */
  releaseBarriers(): Promise<void>;
  close(): Promise<void>;
}

export async function bindNotifySocket(): Promise<NotifySocket> {
  const dir = await mkdtemp(join(tmpdir(), 'uproll-notify-'));
  const path = join(dir, 'notify.sock');
  const receiver = spawn('python3', ['-c', RECEIVER, path], { stdio: ['pipe', 'pipe', 'inherit'] });
  const exited = once(receiver, 'exit');
  const failed = once(receiver, 'error').then(([err]) => {
    throw new Error(`cannot run python3 to bind a datagram socket (install python3): ${String(err)}`);
  });
  const messages: string[][] = [];
  let bound = false;
  let holding = false;
  createInterface({ input: receiver.stdout }).on('line', (line) => {
    const text = JSON.parse(line) as string;
    if (text === 'BOUND') bound = true;
    else if (text === 'HOLD' || text === 'RELEASED') holding = text === 'HOLD';
    // systemd-notify's own wait for the manager to have read the message before; not the agent's.
    else if (text !== 'BARRIER=1') messages.push(text.split('\n'));
  });
  await Promise.race([eventually('python3 to bind the notify socket', () => bound), failed]);
  return {
    path,
    messages,
    received: (assignment) =>
      eventually(`a notification with ${assignment}`, () => messages.find((m) => m.includes(assignment))),
    async holdBarriers() {
      receiver.stdin.write('hold\n');
      await eventually('the notify socket to hold barriers', () => holding);
    },
    async releaseBarriers() {
      receiver.stdin.write('release\n');
      await eventually('the notify socket to release barriers', () => !holding);
    },
    async close() {
      if (receiver.exitCode === null && receiver.signalCode === null) {
        receiver.kill('SIGKILL');
        await exited;
      }
      await rm(dir, { recursive: true, force: true });
    },
  };
}
