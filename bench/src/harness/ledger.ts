/**
 * What the broker acknowledged, kept compactly enough for hundreds of thousands of readings:
 * per device, typed arrays indexed by the device's sequence number (which every stream of a device
 * shares), holding the publish time and the stream. Reconciling the gateway's store against it gives
 * lost / duplicated / invented readings and the latency histogram.
 */
import { LatencyHistogram as Histogram, STREAMS, type ReadingBody, type StreamName } from '@vitalgate/protocol';

const NOT_ACKED = 0;
const FAILED = 0xff;

class DeviceLog {
  /** publishedAt per seq (ms). */
  pub = new Float64Array(64);
  /** Stream id + 1 per seq, NOT_ACKED when nothing was acknowledged, FAILED for a failed publish. */
  stream = new Uint8Array(64);
  /** Times each seq was found in the store (saturating at 255). */
  found = new Uint8Array(64);
  /** Highest seq + 1 recorded. */
  end = 0;

  ensure(seq: number): void {
    if (seq < this.pub.length) return;
    let n = this.pub.length;
    while (n <= seq) n *= 2;
    const pub = new Float64Array(n);
    pub.set(this.pub);
    const stream = new Uint8Array(n);
    stream.set(this.stream);
    const found = new Uint8Array(n);
    found.set(this.found);
    this.pub = pub;
    this.stream = stream;
    this.found = found;
  }
}

/** The bench's latencies use protocol's histogram, as the gateway's stage latency does. */
export { LatencyHistogram as Histogram } from '@vitalgate/protocol';

export interface Reconciliation {
  /** Acknowledged readings found at least once. */
  found: number;
  /** Acknowledged readings never found. */
  lost: number;
  /** Extra copies of readings found more than once. */
  duplicates: number;
  /** Readings found that were never published (or whose stream or device does not match). */
  invented: number;
  /** Readings whose publish failed (no PUBACK) but that reached the store anyway: not counted as invented. */
  foundAfterFailedPublish: number;
  /** Samples in the found readings (waveform: samples.length, scalar: 1), first copies only. */
  samples: number;
  /** Readings in batches that had no durableAt in the index (excluded from latency). */
  withoutDurableAt: number;
}

export class Ledger {
  private readonly devices = new Map<string, DeviceLog>();
  /** Sequence numbers start here (saturation publishers start at 65536 to keep a fixed-width encoding). */
  constructor(readonly seqBase = 0) {}
  acked = 0;
  failed = 0;
  readonly simLag = new Histogram(120_000);
  readonly latency = new Histogram(600_000);
  /** Latency of readings published at or after `steadyFrom` (ms), i.e. without the cold start. */
  readonly steadyLatency = new Histogram(600_000);
  steadyFrom = Infinity;
  private readonly rec: Reconciliation = { found: 0, lost: 0, duplicates: 0, invented: 0, foundAfterFailedPublish: 0, samples: 0, withoutDurableAt: 0 };

  private device(deviceId: string): DeviceLog {
    let d = this.devices.get(deviceId);
    if (!d) {
      d = new DeviceLog();
      this.devices.set(deviceId, d);
    }
    return d;
  }

  /** A reading the broker acknowledged. `dueAt` (optional) is when the device should have sent it. */
  ack(deviceId: string, stream: StreamName, rawSeq: number, publishedAt: number, dueAt?: number): void {
    const seq = rawSeq - this.seqBase;
    if (!(seq >= 0 && Number.isSafeInteger(seq))) throw new Error(`seq ${rawSeq} of ${deviceId} is below the ledger's base ${this.seqBase}`);
    const d = this.device(deviceId);
    d.ensure(seq);
    d.pub[seq] = publishedAt;
    d.stream[seq] = STREAMS[stream].id + 1;
    if (seq >= d.end) d.end = seq + 1;
    this.acked++;
    if (dueAt !== undefined) this.simLag.add(publishedAt - dueAt);
  }

  fail(deviceId: string, rawSeq: number): void {
    const seq = rawSeq - this.seqBase;
    if (!(seq >= 0 && Number.isSafeInteger(seq))) return;
    const d = this.device(deviceId);
    d.ensure(seq);
    d.stream[seq] = FAILED;
    if (seq >= d.end) d.end = seq + 1;
    this.failed++;
  }

  /** One sealed batch read back from the store. `durableAt` undefined: the batch is not in the index. */
  foundBatch(deviceId: string, stream: StreamName, bodies: readonly ReadingBody[], durableAt: number | undefined): void {
    const d = this.devices.get(deviceId);
    const sid = STREAMS[stream].id + 1;
    for (const b of bodies) {
      const seq = b.seq - this.seqBase;
      const s = d && seq >= 0 && seq < d.end ? d.stream[seq]! : NOT_ACKED;
      if (s === FAILED) {
        this.rec.foundAfterFailedPublish++;
        continue;
      }
      if (s !== sid) {
        this.rec.invented++;
        continue;
      }
      const n = d!.found[seq]!;
      if (n < 255) d!.found[seq] = n + 1;
      if (n > 0) {
        this.rec.duplicates++;
        continue;
      }
      this.rec.found++;
      this.rec.samples += 'samples' in b ? b.samples.length : 1;
      if (durableAt === undefined) this.rec.withoutDurableAt++;
      else {
        const pub = d!.pub[seq]!;
        this.latency.add(durableAt - pub);
        if (pub >= this.steadyFrom) this.steadyLatency.add(durableAt - pub);
      }
    }
  }

  /** Totals; `lost` is computed here, after every batch was passed to foundBatch. */
  reconcile(): Reconciliation {
    let lost = 0;
    for (const d of this.devices.values()) {
      for (let seq = 0; seq < d.end; seq++) {
        const s = d.stream[seq]!;
        if (s !== NOT_ACKED && s !== FAILED && d.found[seq] === 0) lost++;
      }
    }
    return { ...this.rec, lost };
  }
}

/** When a device should have published a body: a waveform frame once its last sample is taken. */
export function dueAt(stream: StreamName, body: ReadingBody): number {
  if (!('samples' in body)) return body.ts;
  const spec = STREAMS[stream];
  const perChannel = body.samples.length / (spec.kind === 'waveform' ? spec.channels.length : 1);
  return body.ts + Math.round((perChannel * 1000) / body.rate);
}

/** Nearest-rank percentile (p in 0..100) of values in any order; NaN with none. */
export function nearestRank(values: readonly number[], p: number): number {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)] ?? NaN;
}
