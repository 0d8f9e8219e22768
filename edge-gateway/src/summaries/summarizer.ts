/**
 * Builds the summaries the gateway seals beside the readings (protocol/src/summary.ts): per minute
 * from readings once they are durable, per hour from minute summaries once those are durable. So a
 * summary never counts a reading that could still be lost, and a reading is counted once.
 *
 * Buckets are per (patient, stream, device, epoch, period): a summary is sealed under the epoch of
 * the readings it summarises, so the envelopes that open the readings open their summary, and a
 * party cut off by a new epoch gets no summary of what came after. A bucket closes once its period
 * has ended and nothing has been added to it for `graceMs` (readings of the last seconds of a minute
 * are still being batched when the minute ends). Readings that arrive after their minute was sealed
 * start another piece of that minute; readers merge pieces (mergeRows).
 *
 * Status reports (battery, lead-off) go into the current minute of every stream the device has sent,
 * under the current epoch, so a chart can mark them even when the device sends nothing else.
 */
import {
  forEachPeriod, HOUR_MS, MINUTE_MS, STREAMS, SummaryBuilder,
  type DeviceStatusReport, type ReadingBody, type StreamName, type SummaryKind, type SummaryRow,
} from '@vitalgate/protocol';

export interface SummaryTarget {
  patientId: string;
  stream: StreamName;
  deviceId: string;
  epoch: number;
}

/** A summary ready to seal. */
export interface DueSummary extends SummaryTarget {
  kind: SummaryKind;
  rows: SummaryRow[];
}

interface MinuteBucket extends SummaryTarget { t: number; b: SummaryBuilder; lastAddedAt: number }
interface HourBucket extends MinuteBucket { minutes: Map<number, SummaryBuilder> }

const targetKey = (x: SummaryTarget) => `${x.patientId}/${x.stream}/${x.deviceId}/${x.epoch}`;

export class Summarizer {
  private readonly minutes = new Map<string, MinuteBucket>();
  private readonly hours = new Map<string, HourBucket>();
  /** Streams each device has sent, for its status reports. */
  private readonly streamsOf = new Map<string, Set<StreamName>>();

  constructor(readonly graceMs: number) {}

  /** Buckets not yet sealed, for the status line. */
  get open(): { minutes: number; hours: number } {
    return { minutes: this.minutes.size, hours: this.hours.size };
  }

  private minute(x: SummaryTarget, t: number, now: number): MinuteBucket {
    const k = `${targetKey(x)}/${t}`;
    let m = this.minutes.get(k);
    if (!m) {
      // Waveforms keep a per-second envelope in their minute rows.
      const perSecond = STREAMS[x.stream].kind === 'waveform';
      m = { patientId: x.patientId, stream: x.stream, deviceId: x.deviceId, epoch: x.epoch, t, b: new SummaryBuilder(x.stream, t, MINUTE_MS, perSecond), lastAddedAt: now };
      this.minutes.set(k, m);
    }
    m.lastAddedAt = now;
    return m;
  }

  /**
   * Readings of one durable batch. `after`: only periods starting after this time (recovery at
   * start, where earlier minutes are already sealed).
   */
  addReadings(x: SummaryTarget, bodies: readonly ReadingBody[], now: number, after = -Infinity): void {
    const dev = `${x.patientId}/${x.deviceId}`;
    let s = this.streamsOf.get(dev);
    if (!s) this.streamsOf.set(dev, (s = new Set()));
    s.add(x.stream);
    for (const body of bodies) {
      forEachPeriod(x.stream, body, MINUTE_MS, (t, from, to) => {
        if (t <= after) return;
        const m = this.minute(x, t, now);
        if ('samples' in body) m.b.addSamples(body, from, to);
        else m.b.addScalar(body.values);
      });
    }
  }

  /** A device's status report, received at `now`. */
  addStatus(patientId: string, deviceId: string, report: DeviceStatusReport, now: number, epoch: number): void {
    const t = Math.floor(now / MINUTE_MS) * MINUTE_MS;
    for (const stream of this.streamsOf.get(`${patientId}/${deviceId}`) ?? []) {
      this.minute({ patientId, stream, deviceId, epoch }, t, now).b.addStatus({ ts: now, ...report });
    }
  }

  /** Rows of a durable minute summary, folded into their hour (`after`: recovery, as above). */
  addMinuteRows(x: SummaryTarget, rows: readonly SummaryRow[], now: number, after = -Infinity): void {
    for (const r of rows) {
      if (r.p !== MINUTE_MS) continue;
      const t = Math.floor(r.t / HOUR_MS) * HOUR_MS;
      if (t <= after) continue;
      const k = `${targetKey(x)}/${t}`;
      let h = this.hours.get(k);
      if (!h) {
        h = { patientId: x.patientId, stream: x.stream, deviceId: x.deviceId, epoch: x.epoch, t, b: new SummaryBuilder(x.stream, t, HOUR_MS, false), lastAddedAt: now, minutes: new Map() };
        this.hours.set(k, h);
      }
      h.lastAddedAt = now;
      h.b.addRow(r);
      let mb = h.minutes.get(r.t);
      if (!mb) h.minutes.set(r.t, (mb = new SummaryBuilder(x.stream, r.t, MINUTE_MS, false)));
      mb.addRow(r);
    }
  }

  /**
   * Takes the buckets due at `now` (all of them when `all`), one summary per target and kind.
   * Hours are taken only once the minutes that feed them have had time to be sealed.
   */
  takeDue(now: number, all = false): DueSummary[] {
    const out = new Map<string, DueSummary>();
    const take = (kind: SummaryKind, x: MinuteBucket, row: SummaryRow[]) => {
      const k = `${kind}/${targetKey(x)}`;
      const d = out.get(k);
      if (d) d.rows.push(...row);
      else out.set(k, { kind, patientId: x.patientId, stream: x.stream, deviceId: x.deviceId, epoch: x.epoch, rows: row });
    };
    for (const [k, m] of this.minutes) {
      if (!all && (now < m.t + MINUTE_MS + this.graceMs || now - m.lastAddedAt < this.graceMs)) continue;
      this.minutes.delete(k);
      if (!m.b.empty) take('summary-1m', m, [m.b.row()]);
    }
    for (const [k, h] of this.hours) {
      if (!all && (now < h.t + HOUR_MS + 2 * this.graceMs || now - h.lastAddedAt < this.graceMs)) continue;
      this.hours.delete(k);
      if (h.b.empty) continue;
      const minutes = [...h.minutes.values()].map((b) => b.row()).sort((a, b) => a.t - b.t);
      take('summary-1h', h, [h.b.row(), ...minutes]);
    }
    return [...out.values()];
  }

  /** Puts back summaries whose sealing failed, to be taken again at once. */
  restore(dues: readonly DueSummary[]): void {
    for (const d of dues) {
      for (const r of d.rows) {
        if (d.kind === 'summary-1m') this.minute(d, r.t, -Infinity).b.addRow(r);
        else if (r.p === HOUR_MS) {
          // The hour's minute rows follow it in the same summary: rebuilding from them restores both.
          const minutes = d.rows.filter((m) => m.p === MINUTE_MS && m.t >= r.t && m.t < r.t + HOUR_MS);
          this.addMinuteRows(d, minutes, -Infinity);
        }
      }
    }
  }
}

