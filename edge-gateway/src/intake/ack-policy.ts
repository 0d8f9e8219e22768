/**
 * The acknowledgement policy: QoS 1 acknowledgements held back until what they acknowledge is
 * durable ('durable', the default), or sent on arrival ('arrival', kept only to measure what
 * 'durable' costs: a crash can lose a batch window of acknowledged readings).
 *
 * Every message the gateway takes in gets an intake number, in arrival order. A message's PUBACK
 * is released once every message numbered before it is durable or dealt with (sealed and indexed,
 * rejected, or found to be a duplicate of one that is). Releasing by this watermark, rather than
 * batch by batch, keeps PUBACKs in the order the PUBLISHes came, which MQTT 3.1.1 asks of a
 * receiver [MQTT-4.6.0-2], and makes a redelivered duplicate wait for its original's batch.
 *
 * Acks are bound to the connection they came on: after a reconnect an old packet id may name
 * another message, so tickets of a closed connection are dropped, never sent. The broker then
 * redelivers those messages and de-duplication takes them as duplicates.
 */

/** When QoS 1 readings are acknowledged: once their batch is durable, or on arrival. */
export type AckPolicy = 'durable' | 'arrival';

export interface AckTicket<C> {
  intake: number;
  messageId: number;
  connection: C;
}

export class DeferredAcks<C> {
  private q: Array<AckTicket<C>> = [];
  private head = 0;

  get size(): number {
    return this.q.length - this.head;
  }

  push(ticket: AckTicket<C>): void {
    this.q.push(ticket);
  }

  /** Removes and returns, oldest first, the tickets of messages numbered below `durableBefore`. */
  takeBefore(durableBefore: number): Array<AckTicket<C>> {
    const start = this.head;
    while (this.head < this.q.length && this.q[this.head]!.intake < durableBefore) this.head++;
    const out = this.q.slice(start, this.head);
    // Compact now and then so the array does not grow with everything ever acknowledged.
    if (this.head > 4096 && this.head * 2 > this.q.length) {
      this.q = this.q.slice(this.head);
      this.head = 0;
    }
    return out;
  }

  /** Forgets every ticket (their connection is gone); returns how many there were. */
  clear(): number {
    const n = this.size;
    this.q = [];
    this.head = 0;
    return n;
  }
}
