/**
 * Epoch scheme. An epoch is a u32 counter; each one covers a contiguous span of seal times.
 *
 * - Timer rotation happens at wall-clock boundaries that are multiples of the period since the Unix
 *   epoch (default 15 min), so every gateway and auditor can tell where a period ends.
 * - On-demand rotation (for example when access is revoked) starts a new epoch at once; the next
 *   timer boundary still rotates as usual.
 * - Epoch numbers only grow and are never reused, including across restarts, so one epoch always
 *   maps to one span of time and one key per (patient, stream).
 *
 * This module is the pure arithmetic; the gateway persists the epoch log.
 */
export const DEFAULT_EPOCH_PERIOD_MS = 15 * 60 * 1000;

export interface EpochRecord {
  epoch: number;
  /** Seal time at which this epoch began, ms since the Unix epoch. */
  startedAt: number;
  reason: 'start' | 'timer' | 'demand';
}

/** The first period boundary strictly after `t`. */
export function nextBoundary(t: number, periodMs: number): number {
  if (!(periodMs > 0)) throw new RangeError('epoch period must be positive');
  return (Math.floor(t / periodMs) + 1) * periodMs;
}

/**
 * The epoch in force at `now`, given the current one: rotates (possibly several boundaries late,
 * still by one step, because skipped periods sealed nothing) when a boundary has passed.
 */
export function advanceEpoch(current: EpochRecord, now: number, periodMs: number): EpochRecord {
  if (now >= nextBoundary(current.startedAt, periodMs)) {
    return { epoch: current.epoch + 1, startedAt: Math.floor(now / periodMs) * periodMs, reason: 'timer' };
  }
  return current;
}
