/**
 * Acknowledgements that travel with a message through a flow. A source node that must not let its
 * device (or broker) forget a reading before it is durable (vitalgate-device-in over MQTT) puts a
 * token in `msg.vitalgate.ack`; the node that makes the reading durable (vitalgate-seal) calls
 * `acknowledge(token)` then. A token is a string, so it survives Node-RED cloning the message for
 * every wire; acknowledging it twice is harmless (the first one counts).
 *
 * Node-RED itself has no such path back to the source, which is how its MQTT nodes lose messages
 * in flight when a broker disconnects (node-red issue #2864).
 */
const pending = new Map<string, () => void>();
let next = 0;

/** Registers what to do once the message is durable; returns the token to put in the message. */
export function registerAck(owner: string, onDurable: () => void): string {
  const token = `${owner}:${next++}`;
  pending.set(token, onDurable);
  return token;
}

/** The message carrying `token` is durable (or was dealt with for good): tell its source. */
export function acknowledge(token: unknown): void {
  if (typeof token !== 'string') return;
  const fn = pending.get(token);
  if (!fn) return;
  pending.delete(token);
  fn();
}

/** Forgets every token of `owner` (its connection is gone: the broker redelivers those messages). */
export function forgetAcks(owner: string): number {
  let n = 0;
  for (const k of pending.keys()) {
    if (k.startsWith(`${owner}:`)) {
      pending.delete(k);
      n++;
    }
  }
  return n;
}

/** The ack token a message carries, if any. */
export function ackTokenOf(msg: Record<string, unknown>): string | undefined {
  const v = msg.vitalgate as { ack?: unknown } | undefined;
  return typeof v?.ack === 'string' ? v.ack : undefined;
}
