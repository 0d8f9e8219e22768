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

/**
 * The bounded window of publishes received and not yet acknowledged, shared by both intakes. When
 * it is full, everything pending is sealed at once (`flush`), PUBACKs are released, and the
 * publish that filled it is answered only once the window is back under 90 %: the device, or the
 * broker session, feels slower PUBACKs instead of the gateway holding an unbounded backlog.
 */
export class AckWindow<C> {
  private readonly acks = new DeferredAcks<C>();
  private relief: Promise<void> | undefined;
  /** Times the window was full and intake waited for a flush. */
  full = 0;

  constructor(readonly max: number, private readonly o: {
    /** Seals everything pending now. */
    flush(): Promise<unknown>;
    /** Sends the PUBACKs of what is now durable (takes them with takeBefore). */
    release(): void;
    /** False once the connection is gone or intake is closing: stop waiting for room. */
    open(): boolean;
  }) {}

  get size(): number {
    return this.acks.size;
  }

  /** Holds `ticket`'s PUBACK; a promise when that filled the window, settled when there is room. */
  push(ticket: AckTicket<C>): Promise<void> | undefined {
    this.acks.push(ticket);
    if (this.acks.size < this.max) return undefined;
    this.full++;
    return this.relieve();
  }

  takeBefore(durableBefore: number): Array<AckTicket<C>> {
    return this.acks.takeBefore(durableBefore);
  }

  clear(): number {
    return this.acks.clear();
  }

  /** One relief at a time: every publish that finds the window full waits on the same one. */
  private relieve(): Promise<void> {
    this.relief ??= (async () => {
      const room = Math.floor(this.max * 0.9);
      while (this.acks.size >= room && this.o.open()) {
        // A failed seal (disk full, say) is retried shortly; the publishes keep waiting, unacknowledged.
        await this.o.flush().catch(() => new Promise((r) => setTimeout(r, 100)));
        this.o.release();
      }
    })().finally(() => {
      this.relief = undefined;
    });
    return this.relief;
  }
}
