/**
 * Groups readings into batches per (patient, stream, device). A batch closes when its time window
 * (counted from its first reading) has passed or when it reaches its size limit, whichever is
 * first, so live views stay fresh and no batch grows without bound.
 */
import { sampleCount, type ReadingBody, type StreamName } from '@vitalgate/protocol';

export interface PendingBatch {
  patientId: string;
  deviceId: string;
  stream: StreamName;
  bodies: ReadingBody[];
  /**
   * Beside `bodies`: the CBOR payload each reading arrived in, or undefined (JSON, serial, BLE). It is
   * sealed as received (protocol's encodeBodies) instead of encoded again.
   */
  asReceived: Array<Uint8Array | undefined>;
  /** Arrival time of each reading (ms), beside `bodies`: the gateway's receive → durable latency. */
  received: number[];
  /** Arrival time of the first reading, ms. */
  openedAt: number;
  samples: number;
  /**
   * Intake number of the first reading: the gateway numbers every message it takes in, so "every
   * message before N is durable" can be told from the smallest number still pending.
   */
  firstIntake: number;
}

export interface BatcherOptions {
  windowMs: number;
  /** A batch closes early once it holds this many samples (waveform samples or scalar values). */
  maxSamples: number;
}

export class Batcher {
  private open = new Map<string, PendingBatch>();
  private full: PendingBatch[] = [];
  pendingReadings = 0;

  constructor(readonly opts: BatcherOptions) {}

  /** `intake` never decreases from one call to the next (minIntake relies on it). */
  add(patientId: string, deviceId: string, stream: StreamName, body: ReadingBody, now: number, intake = 0, asReceived?: Uint8Array): void {
    const key = `${patientId}/${stream}/${deviceId}`;
    let b = this.open.get(key);
    if (!b) {
      b = { patientId, deviceId, stream, bodies: [], asReceived: [], received: [], openedAt: now, samples: 0, firstIntake: intake };
      this.open.set(key, b);
    }
    b.bodies.push(body);
    b.asReceived.push(asReceived);
    b.received.push(now);
    b.samples += sampleCount(stream, body);
    this.pendingReadings++;
    if (b.samples >= this.opts.maxSamples) {
      this.open.delete(key);
      this.full.push(b);
    }
  }

  /** Removes and returns the batches that are due at `now` (all of them when `all`). */
  take(now: number, all = false): PendingBatch[] {
    const out = this.full;
    this.full = [];
    for (const [k, b] of this.open) {
      if (all || now - b.openedAt >= this.opts.windowMs) {
        out.push(b);
        this.open.delete(k);
      }
    }
    for (const b of out) this.pendingReadings -= b.bodies.length;
    return out;
  }

  /** The smallest intake number of any pending reading, or `none` when nothing is pending. */
  minIntake(none: number): number {
    let m = none;
    for (const b of this.full) if (b.firstIntake < m) m = b.firstIntake;
    // Open batches sit in the Map in the order they were opened, which is intake order (a batch
    // taken and opened again goes to the end): the first is the oldest. A Map scan per flush was
    // 5000 batches at 1000 devices.
    const oldest = this.open.values().next();
    if (!oldest.done && oldest.value.firstIntake < m) m = oldest.value.firstIntake;
    return m;
  }

  /** Puts batches back (a failed seal), oldest first, without losing or reordering readings. */
  restore(batches: PendingBatch[]): void {
    for (const b of batches) this.pendingReadings += b.bodies.length;
    this.full.unshift(...batches);
  }
}
