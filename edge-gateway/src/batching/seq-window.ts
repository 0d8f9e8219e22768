/**
 * Duplicate detection per (patient, device, stream). QoS 1 is "at least once": a device that did
 * not see its PUBACK publishes again, and the gateway must not seal the reading twice.
 *
 * A sliding window of the last WINDOW sequence numbers is kept as a ring bitmap, so memory per
 * stream is constant however long the device runs. A sequence number at or below the newest one,
 * on a reading later than any seen, is a counter that started over (a device that rebooted after a
 * few readings must not lose what it sends next as "duplicates"). A sequence number far below the
 * window means one of two things, told apart by the reading's own time:
 *   - later than the newest reading: the device restarted its counter; the window starts over
 *     instead of dropping its readings;
 *   - earlier: an old reading arriving late (a broker replaying a long backlog after a gateway
 *     restart, with live readings overtaking it). It is taken, and the window is left as it is:
 *     starting it over would forget the readings just sealed, and their redelivery would be sealed
 *     twice.
 */
import type { ReadingBody } from '@vitalgate/protocol';

export const WINDOW = 4096;

class Ring {
  max = -1;
  /** Device time of the newest reading (for a rebuilt window: of the newest batch's last reading). */
  maxTs = -Infinity;
  readonly bits = new Uint8Array(WINDOW / 8);
  has(seq: number): boolean {
    const i = seq % WINDOW;
    return (this.bits[i >> 3]! & (1 << (i & 7))) !== 0;
  }
  set(seq: number, on: boolean): void {
    const i = seq % WINDOW;
    if (on) this.bits[i >> 3]! |= 1 << (i & 7);
    else this.bits[i >> 3]! &= ~(1 << (i & 7));
  }
  /**
   * Clears the numbers in [from, to) (to − from < WINDOW). Whole bytes at once: a device's numbers
   * are shared by its streams, so a 0.1 Hz stream of a 14-message/s device skips ~140 per reading.
   */
  clear(from: number, to: number): void {
    let s = from;
    for (; s < to && (s & 7) !== 0; s++) this.set(s, false);
    while (to - s >= 8) {
      const byte = (s % WINDOW) >> 3;
      const n = Math.min((to - s) >> 3, WINDOW / 8 - byte);
      this.bits.fill(0, byte, byte + n);
      s += n * 8;
    }
    for (; s < to; s++) this.set(s, false);
  }
}

export type SeqVerdict = 'new' | 'duplicate' | 'restart' | 'late';

export class SeqWindows {
  private readonly rings = new Map<string, Ring>();

  /** Records `seq` (a reading of device time `ts`) for `key` and says whether it was seen before. */
  check(key: string, seq: number, ts?: number): SeqVerdict {
    return this.judge(key, seq, ts, false);
  }

  /**
   * `rebuilding`: `ts` is a batch's last time, an upper bound for each of its readings, so it cannot
   * tell a restart (a reading that filled a gap in a later batch would look like one); the newest
   * time is kept as the largest seen.
   */
  private judge(key: string, seq: number, ts: number | undefined, rebuilding: boolean): SeqVerdict {
    let r = this.rings.get(key);
    if (!r) {
      r = new Ring();
      this.rings.set(key, r);
    }
    let verdict: SeqVerdict = 'new';
    // A number already reached, on a reading later than any seen: the counter started over (a
    // device rebooted, or a simulator run again). A redelivery carries its original, older time.
    const inWindowBelow = r.max >= 0 && seq <= r.max && seq > r.max - WINDOW;
    if (inWindowBelow && ts !== undefined && ts > r.maxTs) {
      if (rebuilding) {
        r.maxTs = ts;
      } else {
        r.bits.fill(0);
        r.max = -1;
        r.maxTs = -Infinity;
        verdict = 'restart';
      }
    } else if (r.max >= 0 && seq <= r.max - WINDOW) {
      if (ts !== undefined && ts <= r.maxTs) return 'late';
      r.bits.fill(0);
      r.max = -1;
      r.maxTs = -Infinity;
      verdict = 'restart';
    }
    if (seq > r.max) {
      if (r.max < 0 || seq - r.max >= WINDOW) r.bits.fill(0);
      else r.clear(r.max + 1, seq);
      r.max = seq;
      r.set(seq, true);
      if (ts !== undefined) r.maxTs = ts;
      return verdict;
    }
    if (r.has(seq)) return 'duplicate';
    r.set(seq, true);
    return 'new';
  }

  /**
   * Marks the reading numbers of already sealed batches (oldest first) as seen. Only the newest
   * WINDOW numbers of each key can matter, so older records are skipped.
   */
  rebuild(records: ReadonlyArray<{ patientId: string; stream: string; deviceId: string; lastTs?: number; readingSeqs?: Array<[number, number]> }>): void {
    const take: typeof records[number][] = [];
    const covered = new Map<string, number>();
    for (let i = records.length - 1; i >= 0; i--) {
      const r = records[i]!;
      if (!r.readingSeqs) continue;
      const key = `${r.patientId}/${r.stream}/${r.deviceId}`;
      const c = covered.get(key) ?? 0;
      if (c >= 2 * WINDOW) continue;
      covered.set(key, c + r.readingSeqs.reduce((n, [a, b]) => n + b - a + 1, 0));
      take.push(r);
    }
    for (let i = take.length - 1; i >= 0; i--) {
      const r = take[i]!;
      const key = `${r.patientId}/${r.stream}/${r.deviceId}`;
      // A batch's last time stands for each of its readings': what matters is that nothing in it is later.
      for (const [a, b] of r.readingSeqs!) for (let s = a; s <= b; s++) this.judge(key, s, r.lastTs, true);
    }
  }

  get size(): number {
    return this.rings.size;
  }
}

/** A batch's reading sequence numbers as [first, last] runs, in arrival order: usually one run. */
export function seqRanges(bodies: readonly ReadingBody[]): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (const { seq } of bodies) {
    const last = out.at(-1);
    if (last && seq === last[1] + 1) last[1] = seq;
    else out.push([seq, seq]);
  }
  return out;
}
