/**
 * Recovery: measures window after window (a list, a generator, a function) until one unlocks the
 * vault; neighbourWindows gives the candidate windows around the backup window.
 */
import { featuresFromBeats, type BeatWindow } from '../features/ipi-features.js';
import { unlockVaultDetailed, vaultMatchesSecret, VaultFormatError, type FuzzyVault, type UnlockOptions } from '../vault/fuzzy-vault.js';

/** One measured window: beat times on the vault's clock, and the window to take features from (default: the vault's). */
export interface MeasuredWindow {
  beatTimesSeconds: ArrayLike<number>;
  window?: BeatWindow;
  label?: string;
}
export type WindowMeasurement = ArrayLike<number> | MeasuredWindow;
/** Measurements one after another: a list, a (async) generator, or a function asked for window 0, 1, 2… (null = no more). */
export type WindowSource =
  | Iterable<WindowMeasurement>
  | AsyncIterable<WindowMeasurement>
  | ((index: number) => WindowMeasurement | null | undefined | Promise<WindowMeasurement | null | undefined>);

export interface RecoveryAttempt {
  window: BeatWindow;
  label?: string;
  beats: number;
  ipis: number;
  unlocked: boolean;
  /** Time the unlock attempt took (ms). */
  ms: number;
}

export type RecoveryResult =
  | { secret: Uint8Array; windowsTried: number; window: BeatWindow; label?: string; attempts: RecoveryAttempt[] }
  | { secret: null; windowsTried: number; reason: string; code: 'no-match' | 'source-ended'; attempts: RecoveryAttempt[] };

export interface RecoverArgs {
  vault: FuzzyVault;
  windows: WindowSource;
  /** Stop after this many windows. Default 32. */
  maxWindows?: number;
  unlock?: UnlockOptions;
  /** Called after every window tried. */
  onAttempt?: (a: RecoveryAttempt, index: number) => void;
}

function isMeasured(m: WindowMeasurement): m is MeasuredWindow {
  return typeof m === 'object' && m !== null && 'beatTimesSeconds' in m;
}

async function* measurements(src: WindowSource): AsyncGenerator<WindowMeasurement> {
  if (typeof src === 'function') {
    for (let i = 0; ; i++) {
      const m = await src(i);
      if (m === null || m === undefined) return;
      yield m;
    }
  }
  yield* src as Iterable<WindowMeasurement> | AsyncIterable<WindowMeasurement>;
}

/**
 * Measures window after window until one unlocks the vault (or maxWindows were tried, or the source
 * ends). Never returns a secret that does not match the vault's salted hash.
 */
export async function recoverPatientSecret(args: RecoverArgs): Promise<RecoveryResult> {
  const { vault } = args;
  const maxWindows = args.maxWindows ?? 32;
  if (!vault.window) throw new VaultFormatError('the vault records no time window, so no window can be measured for it');
  const attempts: RecoveryAttempt[] = [];
  if (maxWindows < 1) return { secret: null, windowsTried: 0, reason: 'no window was tried (maxWindows < 1)', code: 'no-match', attempts };
  let ended = true;
  for await (const m of measurements(args.windows)) {
    const beats = isMeasured(m) ? m.beatTimesSeconds : m;
    const window = (isMeasured(m) ? m.window : undefined) ?? vault.window;
    const label = isMeasured(m) ? m.label : undefined;
    const t0 = performance.now();
    const features = featuresFromBeats(beats, window, vault.params);
    const r = unlockVaultDetailed(vault, features, args.unlock ?? {});
    const attempt: RecoveryAttempt = {
      window: { startSeconds: window.startSeconds, seconds: window.seconds },
      ...(label !== undefined ? { label } : {}),
      beats: features.beats,
      ipis: features.residualsMs.length,
      unlocked: r.secret !== null,
      ms: Math.round((performance.now() - t0) * 100) / 100,
    };
    attempts.push(attempt);
    args.onAttempt?.(attempt, attempts.length - 1);
    if (r.secret) {
      if (!vaultMatchesSecret(vault, r.secret)) throw new Error('internal error: an unlocked secret does not match the vault hash');
      return { secret: r.secret, windowsTried: attempts.length, window: attempt.window, ...(label !== undefined ? { label } : {}), attempts };
    }
    if (attempts.length >= maxWindows) {
      ended = false;
      break;
    }
  }
  const w = vault.window;
  // Wall-clock windows (seconds since 1970) read better as times.
  const where = w.startSeconds > 1e8
    ? `the backup window ${new Date(w.startSeconds * 1000).toISOString()} + ${w.seconds} s`
    : `the backup window [${w.startSeconds}, ${w.startSeconds + w.seconds}) s`;
  const n = attempts.length;
  if (ended && n < maxWindows) {
    return {
      secret: null, windowsTried: n, code: 'source-ended', attempts,
      reason: `not recovered after ${n} window${n === 1 ? '' : 's'}: the measurement ended (the recording must overlap ${where}; try another sensor or a longer recording)`,
    };
  }
  return {
    secret: null, windowsTried: n, code: 'no-match', attempts,
    reason: `not recovered after ${n} window${n === 1 ? '' : 's'}: none unlocked the vault (the recording must overlap ${where} and come from the same body; try another sensor)`,
  };
}

/**
 * The backup window, then its neighbours shifted by +step, −step, +2·step, −2·step … (count in all).
 * The decoder already absorbs an ordinal offset of ±2 beats (≈ ±1.5 s at rest), so steps of about
 * 1.5 s scan a clock offset between the backup's and the recovery's time base without gaps.
 */
export function neighbourWindows(window: BeatWindow, opts: { stepSeconds: number; count: number }): BeatWindow[] {
  const out: BeatWindow[] = [];
  for (let k = 0; out.length < opts.count; k++) {
    for (const sign of k === 0 ? [0] : [1, -1]) {
      if (out.length >= opts.count) break;
      out.push({ startSeconds: window.startSeconds + sign * k * opts.stepSeconds, seconds: window.seconds });
    }
  }
  return out;
}
