/** Beat times from the real PhysioNet recordings in ../shared/data, shared by the key-backup tests. */
import assert from 'node:assert/strict';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { detectPulsePeaks, detectRPeaks, type WfdbRecord } from '@vitalgate/biosignal';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
/** ../shared/data/physionet, next to the repository (never copied into it). */
export const physionet = path.resolve(repoRoot, '..', 'shared', 'data', 'physionet');

/** Beat times (s) of one signal of a record, by description: R peaks, or pulse peaks for PLETH. */
export function beatsOf(rec: WfdbRecord, signal: string, seconds = Infinity): number[] {
  const i = rec.header.signals.findIndex((s) => s.description === signal);
  assert.ok(i >= 0, `no signal ${signal}`);
  const fs = rec.sampleRate(i);
  const x = rec.physical(i).subarray(0, Math.min(rec.nFrames, Math.round(seconds * fs)));
  const peaks = /PLETH/.test(signal) ? detectPulsePeaks(x, fs) : detectRPeaks(x, fs);
  return peaks.map((p) => p / fs);
}
