import type { Msg } from '@nats-io/transport-node';

/**
 * A subscription callback that hands `onValue` each message that is JSON and
 * passes over the rest. nats.js runs callbacks inside its reader: one that
 * throws (`msg.json()` on a message that is not JSON) stops the connection's
 * reader for good, silently — it still says it is open, and every later
 * request on it times out.
 */
export function onJson<T>(onValue: (value: T, msg: Msg) => void): (err: Error | null, msg: Msg) => void {
  return (err, msg) => {
    if (err) return;
    let value: T;
    try {
      value = msg.json<T>();
    } catch {
      return;
    }
    onValue(value, msg);
  };
}
