/**
 * The clocks of a backup window: record time (seconds from a recording's start) or the wall clock
 * (seconds since 1970), mapping beats measured on one to the other, and writing times and windows
 * the way messages show them.
 */
import type { BeatWindow } from '../features/ipi-features.js';
import type { PatientBackup, TimeBase } from '../backup/document.js';
import { SourceError } from './errors.js';

/** A source given as a broker URL (mqtt://, mqtts://, ws://, wss://) rather than a record file. */
export const isLiveSource = (from: string): boolean => /^(mqtts?|wss?):\/\//i.test(from);

/** A time on a backup's clock: an ISO time for wall-clock seconds, else seconds. */
export const formatBackupTime = (s: number): string => (Math.abs(s) >= 1e6 ? new Date(s * 1000).toISOString() : `${Math.round(s * 1000) / 1000} s`);

/** A window on its clock: `2025-06-01T08:30:00.000Z + 90 s`, or `[60, 150) s of record time`. */
export const formatBackupWindow = (w: BeatWindow, base: TimeBase): string =>
  base === 'unix'
    ? `${new Date(w.startSeconds * 1000).toISOString()} + ${w.seconds} s`
    : `[${Math.round(w.startSeconds * 1000) / 1000}, ${Math.round((w.startSeconds + w.seconds) * 1000) / 1000}) s of record time`;

/**
 * Beat times measured on `measured`'s clock → the backup's clock. Between record time and the wall
 * clock it needs when the recording began (recordStartMs); without it throws SourceError.
 */
export function toBackupClock(measured: TimeBase, backup: PatientBackup, recordStartMs: number | undefined): (t: number) => number {
  if (measured === backup.timeBase) return (t) => t;
  if (recordStartMs === undefined) {
    throw new SourceError(
      backup.timeBase === 'unix'
        ? `this backup's window is on the wall clock (${formatBackupWindow(backup.window, 'unix')}); a record file is on its own clock: give --record-start <when the recording began> to place it`
        : `this backup's window is in the record time of ${backup.source.name} (${formatBackupWindow(backup.window, 'record')}); a live stream is on the wall clock: give --record-start <when that recording began>`,
    );
  }
  const off = recordStartMs / 1000;
  return measured === 'record' ? (t) => t + off : (t) => t - off;
}
