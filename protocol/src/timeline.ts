/**
 * What a chart of a time range needs besides the values: which sealed source to load for the range
 * (readings, or minute or hour summaries), where the data has gaps, and when a device said it was
 * in a state that makes its data missing or doubtful (a lead off, a low battery). Pure functions on
 * decrypted data, used where the data is decrypted: the dashboard, in the browser.
 */
import { LOW_BATTERY_PERCENT } from './device-status.js';
import type { BatchKind } from './sealed-batch.js';
import { HOUR_MS, MINUTE_MS, type StatusEvent } from './summary.js';

/** Ranges up to this long load readings; up to SUMMARY_1M_UP_TO_MS minute summaries; beyond, hour summaries. */
export const READINGS_UP_TO_MS = HOUR_MS;
export const SUMMARY_1M_UP_TO_MS = 6 * HOUR_MS;

/**
 * The source for a range: an hour of 250 Hz ECG is 900,000 samples, about what a chart a screen
 * wide can still show; past that, a sample per pixel is lost anyway and a summary says the same in
 * a thousandth of the bytes. Seven days at one-minute resolution is 10,080 points per stream.
 */
export function sourceFor(spanMs: number): BatchKind {
  return spanMs <= READINGS_UP_TO_MS ? 'readings' : spanMs <= SUMMARY_1M_UP_TO_MS ? 'summary-1m' : 'summary-1h';
}

/** The start of the period a summary query must begin at so that a period overlapping `from` is included. */
export function summaryQueryStart(kind: BatchKind, from: number): number {
  const p = kind === 'summary-1h' ? HOUR_MS : kind === 'summary-1m' ? MINUTE_MS : 1;
  return Math.floor(from / p) * p;
}

export interface Interval { from: number; to: number }

/**
 * Stretches of [from, to) with no data: between consecutive times further apart than `minGapMs`,
 * and at the end when the last time is that far before `to`. `times` must be ascending. The start
 * is not marked: data before `from` may simply not have been asked for.
 */
export function gapsIn(times: ArrayLike<number>, to: number, minGapMs: number): Interval[] {
  const out: Interval[] = [];
  for (let i = 1; i < times.length; i++) {
    if (times[i]! - times[i - 1]! > minGapMs) out.push({ from: times[i - 1]!, to: times[i]! });
  }
  const last = times.length ? times[times.length - 1]! : undefined;
  if (last !== undefined && to - last > minGapMs) out.push({ from: last, to });
  return out;
}

/**
 * The gap threshold for readings at their own pace: five typical intervals, and never under
 * `floorMs`, so one late reading is not a gap while a link down for a minute is.
 */
export function gapThreshold(times: ArrayLike<number>, floorMs = 10_000): number {
  const d: number[] = [];
  for (let i = 1; i < times.length && d.length < 2000; i++) d.push(times[i]! - times[i - 1]!);
  if (!d.length) return floorMs;
  d.sort((a, b) => a - b);
  return Math.max(floorMs, 5 * d[Math.floor(d.length / 2)]!);
}

export interface DeviceStateInterval extends Interval {
  deviceId: string;
  state: 'lead-off' | 'low-battery' | 'sensor-error';
}

/**
 * Intervals of lead-off, low battery and sensor error from status reports: each starts at the report
 * that says so and lasts until the same device's next report that does not (or `to`). The same
 * report may come in more than one stream's summary; it counts once.
 */
export function deviceStates(events: ReadonlyArray<StatusEvent & { deviceId: string }>, to: number): DeviceStateInterval[] {
  const seen = new Set<string>();
  const byDevice = new Map<string, StatusEvent[]>();
  for (const e of events) {
    const k = `${e.deviceId}/${e.ts}`;
    if (seen.has(k)) continue;
    seen.add(k);
    const l = byDevice.get(e.deviceId);
    if (l) l.push(e);
    else byDevice.set(e.deviceId, [e]);
  }
  const out: DeviceStateInterval[] = [];
  for (const [deviceId, evs] of byDevice) {
    evs.sort((a, b) => a.ts - b.ts);
    const tests: Array<[DeviceStateInterval['state'], (e: StatusEvent) => boolean]> = [
      ['lead-off', (e) => e.leadOff === true],
      ['low-battery', (e) => e.battery !== undefined && e.battery <= LOW_BATTERY_PERCENT],
      ['sensor-error', (e) => e.sensorError === true],
    ];
    for (const [state, holds] of tests) {
      let start: number | undefined;
      for (const e of evs) {
        // A report without a battery figure says nothing about the battery.
        if (state === 'low-battery' && e.battery === undefined) continue;
        if (holds(e) && start === undefined) start = e.ts;
        else if (!holds(e) && start !== undefined) {
          out.push({ deviceId, state, from: start, to: e.ts });
          start = undefined;
        }
      }
      if (start !== undefined) out.push({ deviceId, state, from: start, to: Math.max(to, start) });
    }
  }
  return out.sort((a, b) => a.from - b.from || a.state.localeCompare(b.state));
}
