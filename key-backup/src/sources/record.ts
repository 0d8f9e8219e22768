/**
 * Beats from a WFDB record: which signals carry beats, the beats of one signal over a stretch
 * (with a margin for the detectors to learn the signal), a backup window measured on a record, the
 * recovery plan a record gives, and every signal's beats for `keys evaluate`.
 */
import path from 'node:path';
import { classifySignal, detectPulsePeaks, detectRPeaks, readWfdbRecord, type WfdbRecord } from '@vitalgate/biosignal';
import type { BeatWindow } from '../features/ipi-features.js';
import type { BackupSource, PatientBackup, TimeBase } from '../backup/document.js';
import type { MeasuredWindow } from '../backup/recover.js';
import type { RecordBeats } from '../evaluate/evaluate.js';
import { formatBackupTime, formatBackupWindow, toBackupClock } from './clock.js';
import { SourceError } from './errors.js';

/** Seconds of signal before a window that the beat detectors get to learn the signal. */
export const LEARN_SECONDS = 10;
/** Seconds of signal after a window, so its last beat is detected with its neighbours. */
export const TAIL_SECONDS = 3;

/** One window of beats, measured for a backup: on which clock, and where they came from. */
export interface CapturedWindow {
  beats: number[];
  window: BeatWindow;
  timeBase: TimeBase;
  source: BackupSource;
}

export interface RecordSignal {
  index: number;
  description: string;
  sensor: 'ecg' | 'ppg';
}

/** Every pulse-bearing signal of a record, ECG leads first (lead to lead agrees best). */
export function pulseSignals(rec: WfdbRecord): RecordSignal[] {
  const out: RecordSignal[] = [];
  rec.header.signals.forEach((s, index) => {
    const sensor = classifySignal(s.description);
    if (sensor) out.push({ index, description: s.description || `signal ${index}`, sensor });
  });
  return out.sort((a, b) => (a.sensor === b.sensor ? a.index - b.index : a.sensor === 'ecg' ? -1 : 1));
}

/** The signal asked for (index or description), or every pulse-bearing one. Throws SourceError. */
export function pickSignals(rec: WfdbRecord, wanted: string | undefined, hea: string): RecordSignal[] {
  const all = pulseSignals(rec);
  const names = rec.header.signals.map((s, i) => `${i}:${s.description}`).join(', ');
  if (wanted === undefined) {
    if (!all.length) throw new SourceError(`${hea} has no ECG lead or PPG (PLETH) signal (signals: ${names})`);
    return all;
  }
  const idx = /^\d+$/.test(wanted) ? Number(wanted) : rec.header.signals.findIndex((s) => s.description === wanted);
  const spec = rec.header.signals[idx];
  if (!spec) throw new SourceError(`${hea} has no signal ${JSON.stringify(wanted)} (signals: ${names})`);
  const sensor = classifySignal(spec.description);
  if (!sensor) throw new SourceError(`signal ${idx} (${spec.description}) of ${hea} is neither an ECG lead nor PPG: no heartbeats to take`);
  return [{ index: idx, description: spec.description || `signal ${idx}`, sensor }];
}

/** Beat times (record seconds) of one signal between fromS and toS (clipped to the record), with the detector's learning margin. */
export function recordBeats(rec: WfdbRecord, sig: RecordSignal, fromS: number, toS: number): number[] {
  const fs = rec.sampleRate(sig.index);
  const x = rec.physical(sig.index);
  const a = Math.max(0, Math.floor((fromS - LEARN_SECONDS) * fs));
  const b = Math.min(x.length, Math.ceil((toS + TAIL_SECONDS) * fs));
  if (b <= a) return [];
  const part = x.subarray(a, b);
  const peaks = sig.sensor === 'ecg' ? detectRPeaks(part, fs) : detectPulsePeaks(part, fs);
  return peaks.map((p) => (a + p) / fs);
}

export function recordDuration(rec: WfdbRecord): number {
  return rec.nFrames / rec.header.fs;
}

/** Reads a record; a file that cannot be read is a SourceError. */
export async function openRecord(hea: string): Promise<WfdbRecord> {
  try {
    return await readWfdbRecord(hea);
  } catch (e) {
    throw new SourceError(`cannot read the record ${hea}: ${(e as Error).message}`);
  }
}

export interface RecordWindowOptions {
  /** The record's header file. */
  hea: string;
  /** Index or description; default the first ECG lead, else PLETH. */
  signal?: string;
  /** Window start in record seconds (default 0). */
  startSeconds?: number;
  windowSeconds: number;
  /** When the recording began (ms since 1970): puts the window on the wall clock. */
  recordStartMs?: number;
  onProgress?: (line: string, force?: boolean) => void;
}

/** The beats of one backup window of a record. Throws SourceError for a window that does not fit. */
export async function captureRecordWindow(o: RecordWindowOptions): Promise<CapturedWindow> {
  const rec = await openRecord(o.hea);
  const sig = pickSignals(rec, o.signal, o.hea)[0]!;
  const start = o.startSeconds ?? 0;
  const dur = recordDuration(rec);
  if (start + o.windowSeconds > dur + 1e-9) {
    throw new SourceError(`the window [${start}, ${start + o.windowSeconds}) s does not fit in ${o.hea} (${dur.toFixed(1)} s long)`);
  }
  o.onProgress?.(`detecting beats in ${sig.description} of ${o.hea}`, true);
  const recBeats = recordBeats(rec, sig, start, start + o.windowSeconds);
  const offset = o.recordStartMs !== undefined ? o.recordStartMs / 1000 : 0;
  return {
    beats: recBeats.map((t) => t + offset),
    window: { startSeconds: offset + start, seconds: o.windowSeconds },
    timeBase: o.recordStartMs !== undefined ? 'unix' : 'record',
    source: { kind: 'record', name: rec.header.record || path.basename(o.hea, '.hea'), signal: sig.description, sensor: sig.sensor },
  };
}

export interface RecordRecoveryOptions {
  hea: string;
  /** Default: every ECG lead, then PLETH, in turn. */
  signal?: string;
  backup: PatientBackup;
  /** Candidate windows on the backup's clock (neighbourWindows). */
  candidates: BeatWindow[];
  recordStartMs?: number;
  onProgress?: (line: string, force?: boolean) => void;
}

/**
 * What a record offers a recovery: every candidate window on every pulse-bearing signal, window-major
 * (every signal at the backup window, then every signal one step away, …), beats on the backup's
 * clock; and, when the record does not reach the backup window, a note saying so.
 */
export async function recordRecoveryPlan(o: RecordRecoveryOptions): Promise<{ plan: MeasuredWindow[]; coverage: string }> {
  const rec = await openRecord(o.hea);
  const sigs = pickSignals(rec, o.signal, o.hea);
  const { backup, candidates } = o;
  const toBackup = toBackupClock('record', backup, o.recordStartMs);
  // Candidate windows in record time, to know which stretch of the record to analyse.
  const recOff = toBackup(0);
  const lo = Math.min(...candidates.map((w) => w.startSeconds)) - recOff;
  const hi = Math.max(...candidates.map((w) => w.startSeconds + w.seconds)) - recOff;
  const dur = recordDuration(rec);
  const perSignal = sigs.map((sig) => {
    o.onProgress?.(`detecting beats in ${sig.description} of ${o.hea}`, true);
    return { sig, beats: recordBeats(rec, sig, lo, hi).map(toBackup) };
  });
  let coverage = '';
  const w0 = backup.window;
  if (w0.startSeconds - recOff >= dur || w0.startSeconds + w0.seconds - recOff <= 0) {
    coverage = `the recording covers ${formatBackupTime(recOff)} … ${formatBackupTime(recOff + dur)} on the backup's clock, outside the backup window ${formatBackupWindow(w0, backup.timeBase)}`;
  }
  const plan: MeasuredWindow[] = [];
  for (const w of candidates) for (const s of perSignal) plan.push({ beatTimesSeconds: s.beats, window: w, label: s.sig.description });
  return { plan, coverage };
}

/**
 * Beat times of every pulse-bearing signal of a WFDB record: R peaks of ECG leads, pulse
 * fiducials of PPG (PLETH); other signals (RESP, ABP, …) are listed as skipped.
 */
export async function loadRecordBeats(hea: string): Promise<{ beats: RecordBeats; skipped: string[] }> {
  const rec: WfdbRecord = await readWfdbRecord(hea);
  const name = rec.header.record || path.basename(hea, '.hea');
  const signals: RecordBeats['signals'] = [];
  const skipped: string[] = [];
  let durationSeconds = 0;
  rec.header.signals.forEach((spec, i) => {
    const fs = rec.sampleRate(i);
    const x = rec.physical(i);
    durationSeconds = Math.max(durationSeconds, x.length / fs);
    const label = spec.description || `signal ${i}`;
    const kind = classifySignal(label);
    if (!kind) {
      skipped.push(label);
      return;
    }
    const peaks = kind === 'ecg' ? detectRPeaks(x, fs) : detectPulsePeaks(x, fs);
    signals.push({ signal: label, kind, beatTimesSeconds: peaks.map((p) => p / fs) });
  });
  return { beats: { record: name, durationSeconds, signals }, skipped };
}
