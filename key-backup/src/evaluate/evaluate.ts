/**
 * The trial engine behind `vitalgate keys evaluate`: how often the fuzzy vault opens for the right
 * body and stays shut for everyone else, on beat series from recorded signals.
 *
 * Input: for each record, the beat times of each pulse-bearing signal (ECG leads, PPG), all on the
 * record's clock. Windows [i·step, i·step + W) that fit in the record. For every (signal, window)
 * one vault is locked, with a fresh random 32-byte secret, and then:
 * - genuine trials: the vault of signal a in window w opened with signal b ≠ a of the same record
 *   over the same window (lead-to-lead when both are ECG; ECG↔PPG otherwise);
 * - ECG→PPG recovery: the backup was made from an ECG lead, recovery uses the PPG. A case is a
 *   start window i; it succeeds if the PPG opens the ECG vault of window i, i+1, … or i+N−1
 *   (N = recoveryWindows, default 3: the gateway keeps a vault for every window);
 * - impostor trials: the vault of one record opened with any signal and window of another record;
 * - stale trials: the vault of a signal opened with another signal of the same body but a
 *   different window (IPIs are not time-invariant: this must fail too);
 * - flat guesses: each vault opened with "every residual is 0" (an attacker who only knows the
 *   heart-rate baseline, which the features remove) — the guess that best exploits the low
 *   entropy of residuals.
 * Unlock times are measured per attempt (all kinds) with performance.now().
 */
import { randomBytes } from '@noble/hashes/utils.js';
import { featuresFromBeats, alignBeats, ipiDisagreementMs, type IpiFeatures } from '../features/ipi-features.js';
import { median, percentile } from '../features/stats.js';
import { lockSecret, unlockVaultDetailed, vaultSecurity, validateVaultParams, zeroGuessResistance, VaultLockError, type FuzzyVault, type UnlockOptions, type VaultParams } from '../vault/fuzzy-vault.js';
import type { SensorKind } from '@vitalgate/biosignal';

/** One vault per 90 s: 75–128 IPIs at 50–85 bpm (the default 2^7 slots; faster hearts use the first 128). */
export const DEFAULT_WINDOW_SECONDS = 90;

export interface SignalBeats {
  /** Signal label, e.g. 'MLII', 'PLETH'. */
  signal: string;
  kind: SensorKind;
  /** Beat times in seconds from the record start (R peaks or pulse fiducials). */
  beatTimesSeconds: readonly number[];
}

export interface RecordBeats {
  record: string;
  durationSeconds: number;
  signals: SignalBeats[];
}

export interface EvaluateOptions {
  /** Window length (s). Default DEFAULT_WINDOW_SECONDS (90). */
  windowSeconds?: number;
  /** Window step (s). Default = windowSeconds (no overlap). */
  stepSeconds?: number;
  params?: Partial<VaultParams>;
  unlock?: UnlockOptions;
  /** Lock-time gate (LockOptions.minGuessBits); default DEFAULT_MIN_GUESS_BITS, 0 = off. */
  minGuessBits?: number;
  /**
   * Impostor queries are taken from the other records on a finer grid than the vaults (any minute
   * of another person is an impostor measurement). Default windowSeconds / 4.
   */
  impostorStepSeconds?: number;
  /** Impostor trials are spread evenly over all cross-record (vault, query) pairs, at most this many. Default 2000. */
  maxImpostorTrials?: number;
  /** Stale (same body, other window) trials, at most this many. Default 500. */
  maxStaleTrials?: number;
  /** Windows an ECG→PPG recovery may try. Default 3. */
  recoveryWindows?: number;
  /** Only the first this many windows of each record (quick runs). */
  maxWindowsPerRecord?: number;
  onProgress?: (done: number, total: number, phase: string) => void;
}

export interface SignalPairAgreement {
  record: string;
  a: string;
  b: string;
  kind: 'ecg-ecg' | 'ecg-ppg' | 'ppg-ppg';
  /** b ≈ a + lag (ms): the PPG pulse transit time for ECG→PPG pairs. */
  lagMs: number;
  pairedBeats: number;
  /** |IPI(b) − IPI(a)| over consecutive paired beats (ms). */
  medianAbsMs: number;
  p95AbsMs: number;
}

export interface RecordSummary {
  record: string;
  durationSeconds: number;
  signals: Array<{ signal: string; kind: SensorKind; beats: number }>;
  windows: number;
  vaults: number;
  /** Windows refused: fewer IPIs than degree + 1. */
  tooFewFeatures: number;
  /** Windows refused by the lock-time gate: residuals too close to 0 (low HRV for the tolerance). */
  weakFeatures: number;
  genuineTrials: number;
  genuineUnlocks: number;
  leadTrials: number;
  leadUnlocks: number;
  ecgToPpgTrials: number;
  ecgToPpgUnlocks: number;
  /** As EvaluationReport.zeroToothRate / entropyBits, for this record's vaults. */
  zeroToothRate: number;
  entropyBits: number;
  note?: string;
}

export interface EvaluationReport {
  genuineTrials: number;
  genuineUnlocks: number;
  frr: number;
  impostorTrials: number;
  impostorUnlocks: number;
  far: number;
  unlockMsP50: number;
  unlockMsP99: number;
  securityBits: number;
  /** ECG lead to ECG lead, same window. */
  leadTrials: number;
  leadUnlocks: number;
  leadUnlockRate: number;
  /** Single-window ECG-locked, PPG-unlocked trials. */
  ecgToPpgTrials: number;
  ecgToPpgUnlocks: number;
  /** PPG-locked, ECG-unlocked. */
  ppgToEcgTrials: number;
  ppgToEcgUnlocks: number;
  recoveryWindows: number;
  ppgRecoveryCases: number;
  ppgRecovered: number;
  ppgRecoveryRate: number;
  staleTrials: number;
  staleUnlocks: number;
  flatGuessTrials: number;
  flatGuessUnlocks: number;
  unlockMsMax: number;
  securityBitsMin: number;
  /** Juels–Sudan formula value for the median vault. */
  bruteForceBits: number;
  lockFailures: number;
  tooFewFeatures: number;
  weakFeatures: number;
  /**
   * Share of all locked IPIs whose genuine comb tooth is the one nearest residual 0 (the best
   * single guess per slot for an attacker who knows the population), and the resulting estimate
   * (degree + 1)·log2(1/zeroToothRate) of the bits such an attacker faces. An estimate: it ignores
   * correlation between IPIs and the extra chances Reed–Solomon decoding gives.
   */
  zeroToothRate: number;
  entropyBits: number;
  windowSeconds: number;
  stepSeconds: number;
  params: VaultParams;
  maxShift: number;
  records: RecordSummary[];
  agreement: SignalPairAgreement[];
  elapsedSeconds: number;
}

interface Slot {
  record: number;
  signal: number;
  kind: SensorKind;
  window: number;
  features: IpiFeatures;
  vault: FuzzyVault | null;
  secret: Uint8Array | null;
}


/** Pick at most `max` items spread evenly over `total` (deterministic). */
function spread(total: number, max: number): number[] {
  if (total <= max) return Array.from({ length: total }, (_, i) => i);
  return Array.from({ length: max }, (_, i) => Math.floor((i * total) / max));
}

function agreementOf(record: RecordBeats): SignalPairAgreement[] {
  const out: SignalPairAgreement[] = [];
  const sigs = record.signals;
  for (let i = 0; i < sigs.length; i++) {
    for (let j = i + 1; j < sigs.length; j++) {
      let a = sigs[i]!;
      let b = sigs[j]!;
      if (a.kind === 'ppg' && b.kind === 'ecg') [a, b] = [b, a];
      const { lagSeconds, pairs } = alignBeats(a.beatTimesSeconds, b.beatTimesSeconds);
      const d = ipiDisagreementMs(a.beatTimesSeconds, b.beatTimesSeconds, pairs).map(Math.abs);
      out.push({
        record: record.record,
        a: a.signal,
        b: b.signal,
        kind: a.kind === 'ecg' && b.kind === 'ecg' ? 'ecg-ecg' : a.kind === 'ppg' && b.kind === 'ppg' ? 'ppg-ppg' : 'ecg-ppg',
        lagMs: Math.round(lagSeconds * 10000) / 10,
        pairedBeats: pairs.length,
        medianAbsMs: Math.round(median(d) * 10) / 10,
        p95AbsMs: Math.round(percentile(d, 0.95) * 10) / 10,
      });
    }
  }
  return out;
}

/** Run every trial; see the file comment. */
export function evaluateRecords(records: readonly RecordBeats[], opts: EvaluateOptions = {}): EvaluationReport {
  const started = performance.now();
  const W = opts.windowSeconds ?? DEFAULT_WINDOW_SECONDS;
  const step = opts.stepSeconds ?? W;
  if (!(W > 0) || !(step > 0)) throw new RangeError('window and step must be > 0 s');
  const params = validateVaultParams(opts.params);
  const unlockOpts: UnlockOptions = { maxShift: 2, ...opts.unlock };
  const recoveryWindows = opts.recoveryWindows ?? 3;
  const progress = opts.onProgress ?? (() => {});

  // 1. features and one vault per (record, signal, window)
  const slots: Slot[] = [];
  const byKey = new Map<string, Slot>();
  const summaries: RecordSummary[] = [];
  const windowCounts: number[] = [];
  records.forEach((rec, ri) => {
    let windows = rec.durationSeconds >= W ? Math.floor((rec.durationSeconds - W) / step + 1e-9) + 1 : 0;
    if (opts.maxWindowsPerRecord !== undefined) windows = Math.min(windows, opts.maxWindowsPerRecord);
    windowCounts.push(windows);
    const summary: RecordSummary = {
      record: rec.record,
      durationSeconds: rec.durationSeconds,
      signals: rec.signals.map((s) => ({ signal: s.signal, kind: s.kind, beats: s.beatTimesSeconds.length })),
      windows,
      vaults: 0,
      tooFewFeatures: 0,
      weakFeatures: 0,
      genuineTrials: 0,
      genuineUnlocks: 0,
      leadTrials: 0,
      leadUnlocks: 0,
      ecgToPpgTrials: 0,
      ecgToPpgUnlocks: 0,
      zeroToothRate: Number.NaN,
      entropyBits: Number.NaN,
    };
    if (!windows) summary.note = `shorter than one ${W} s window: no trials`;
    if (rec.signals.length < 2 && windows) summary.note = 'one pulse-bearing signal only: impostor trials only';
    summaries.push(summary);
    rec.signals.forEach((sig, si) => {
      for (let w = 0; w < windows; w++) {
        const features = featuresFromBeats(sig.beatTimesSeconds, { startSeconds: w * step, seconds: W }, params);
        const slot: Slot = { record: ri, signal: si, kind: sig.kind, window: w, features, vault: null, secret: null };
        slots.push(slot);
        byKey.set(`${ri}/${si}/${w}`, slot);
      }
    });
  });
  let tooFew = 0;
  let weak = 0;
  let zeroTeeth = 0;
  let lockedSlots = 0;
  const perRecordTeeth = records.map(() => [0, 0] as [number, number]);
  const security: Array<{ bits: number; brute: number }> = [];
  slots.forEach((slot, i) => {
    const secret = randomBytes(32);
    try {
      slot.vault = lockSecret(secret, slot.features, params, opts.minGuessBits === undefined ? {} : { minGuessBits: opts.minGuessBits });
      slot.secret = secret;
      const z = zeroGuessResistance(slot.features, params);
      zeroTeeth += z.zeroTeeth;
      lockedSlots += z.slots;
      perRecordTeeth[slot.record]![0] += z.zeroTeeth;
      perRecordTeeth[slot.record]![1] += z.slots;
      const sec = vaultSecurity(slot.vault);
      security.push({ bits: sec.securityBits, brute: sec.bruteForceBits });
      summaries[slot.record]!.vaults++;
    } catch (e) {
      if (!(e instanceof VaultLockError) || e.code === 'bad-params' || e.code === 'bad-secret') throw e;
      if (e.code === 'weak-features') {
        weak++;
        summaries[slot.record]!.weakFeatures++;
      } else {
        tooFew++;
        summaries[slot.record]!.tooFewFeatures++;
      }
    }
    if (i % 20 === 0) progress(i, slots.length, 'lock');
  });

  const times: number[] = [];
  const attempt = (vault: FuzzyVault, secret: Uint8Array, query: { residualsMs: number[] }): boolean => {
    const t0 = performance.now();
    const r = unlockVaultDetailed(vault, query, unlockOpts);
    times.push(performance.now() - t0);
    if (r.secret && !equal(r.secret, secret)) throw new Error('BUG: a vault yielded a wrong secret');
    return r.secret !== null;
  };

  // 2. genuine trials, same window
  let genuineTrials = 0;
  let genuineUnlocks = 0;
  let leadTrials = 0;
  let leadUnlocks = 0;
  let e2pTrials = 0;
  let e2pUnlocks = 0;
  let p2eTrials = 0;
  let p2eUnlocks = 0;
  const e2pByWindow = new Map<string, boolean>(); // `${record}/${ecg}/${ppg}/${w}`
  const genuineTotal = slots.filter((s) => s.vault).length;
  let done = 0;
  for (const lockSlot of slots) {
    if (!lockSlot.vault || !lockSlot.secret) continue;
    const rec = records[lockSlot.record]!;
    rec.signals.forEach((sig, si) => {
      if (si === lockSlot.signal) return;
      const q = byKey.get(`${lockSlot.record}/${si}/${lockSlot.window}`)!;
      const ok = attempt(lockSlot.vault!, lockSlot.secret!, q.features);
      genuineTrials++;
      summaries[lockSlot.record]!.genuineTrials++;
      if (ok) {
        genuineUnlocks++;
        summaries[lockSlot.record]!.genuineUnlocks++;
      }
      const summary = summaries[lockSlot.record]!;
      if (lockSlot.kind === 'ecg' && sig.kind === 'ecg') {
        leadTrials++;
        summary.leadTrials++;
        if (ok) {
          leadUnlocks++;
          summary.leadUnlocks++;
        }
      } else if (lockSlot.kind === 'ecg' && sig.kind === 'ppg') {
        e2pTrials++;
        summary.ecgToPpgTrials++;
        if (ok) {
          e2pUnlocks++;
          summary.ecgToPpgUnlocks++;
        }
        e2pByWindow.set(`${lockSlot.record}/${lockSlot.signal}/${si}/${lockSlot.window}`, ok);
      } else if (lockSlot.kind === 'ppg' && sig.kind === 'ecg') {
        p2eTrials++;
        if (ok) p2eUnlocks++;
      }
    });
    if (++done % 10 === 0) progress(done, genuineTotal, 'genuine');
  }

  // ECG→PPG recovery within N windows (a window whose ECG vault failed to lock counts as a failed try)
  let recoveryCases = 0;
  let recovered = 0;
  records.forEach((rec, ri) => {
    rec.signals.forEach((e, ei) => {
      if (e.kind !== 'ecg') return;
      rec.signals.forEach((p, pi) => {
        if (p.kind !== 'ppg') return;
        const windows = windowCounts[ri]!;
        for (let start = 0; start + recoveryWindows <= windows; start++) {
          recoveryCases++;
          let ok = false;
          for (let w = start; w < start + recoveryWindows && !ok; w++) ok = e2pByWindow.get(`${ri}/${ei}/${pi}/${w}`) === true;
          if (ok) recovered++;
        }
      });
    });
  });

  // 3. impostor trials: vault of one record, query of another (any signal, any window on a fine grid)
  const locked = slots.filter((s) => s.vault);
  const impStep = opts.impostorStepSeconds ?? W / 4;
  const impostorQueries: Array<{ record: number; features: IpiFeatures }> = [];
  records.forEach((rec, ri) => {
    const n = rec.durationSeconds >= W ? Math.floor((rec.durationSeconds - W) / impStep + 1e-9) + 1 : 0;
    for (const sig of rec.signals) {
      for (let w = 0; w < n; w++) impostorQueries.push({ record: ri, features: featuresFromBeats(sig.beatTimesSeconds, { startSeconds: w * impStep, seconds: W }, params) });
    }
  });
  const crossPairs: Array<[Slot, { features: IpiFeatures }]> = [];
  for (const v of locked) for (const q of impostorQueries) if (q.record !== v.record) crossPairs.push([v, q]);
  const impostorPick = spread(crossPairs.length, opts.maxImpostorTrials ?? 2000);
  let impostorUnlocks = 0;
  impostorPick.forEach((idx, i) => {
    const [v, q] = crossPairs[idx]!;
    if (attempt(v.vault!, v.secret!, q.features)) impostorUnlocks++;
    if (i % 50 === 0) progress(i, impostorPick.length, 'impostor');
  });

  // 4. stale trials: same record, other signal, other window
  const stalePairs: Array<[Slot, Slot]> = [];
  for (const v of locked) for (const q of slots) if (q.record === v.record && q.window !== v.window && q.signal !== v.signal) stalePairs.push([v, q]);
  const stalePick = spread(stalePairs.length, opts.maxStaleTrials ?? 500);
  let staleUnlocks = 0;
  stalePick.forEach((idx, i) => {
    const [v, q] = stalePairs[idx]!;
    if (attempt(v.vault!, v.secret!, q.features)) staleUnlocks++;
    if (i % 50 === 0) progress(i, stalePick.length, 'stale');
  });

  // 5. flat guesses
  let flatUnlocks = 0;
  for (const v of locked) {
    const flat = { residualsMs: new Array<number>(v.features.residualsMs.length + 2).fill(0) };
    if (attempt(v.vault!, v.secret!, flat)) flatUnlocks++;
  }
  progress(1, 1, 'done');

  const entropy = (teeth: number, total: number): number => (total && teeth ? round2((params.degree + 1) * Math.log2(total / teeth)) : Number.NaN);
  summaries.forEach((s, i) => {
    const [teeth, total] = perRecordTeeth[i]!;
    s.zeroToothRate = total ? round4(teeth / total) : Number.NaN;
    s.entropyBits = entropy(teeth, total);
  });
  const impostorTrials = impostorPick.length;
  const bits = security.map((s) => s.bits);
  return {
    genuineTrials,
    genuineUnlocks,
    frr: genuineTrials ? 1 - genuineUnlocks / genuineTrials : Number.NaN,
    impostorTrials,
    impostorUnlocks,
    far: impostorTrials ? impostorUnlocks / impostorTrials : Number.NaN,
    unlockMsP50: round2(percentile(times, 0.5)),
    unlockMsP99: round2(percentile(times, 0.99)),
    securityBits: round2(median(bits)),
    leadTrials,
    leadUnlocks,
    leadUnlockRate: leadTrials ? leadUnlocks / leadTrials : Number.NaN,
    ecgToPpgTrials: e2pTrials,
    ecgToPpgUnlocks: e2pUnlocks,
    ppgToEcgTrials: p2eTrials,
    ppgToEcgUnlocks: p2eUnlocks,
    recoveryWindows,
    ppgRecoveryCases: recoveryCases,
    ppgRecovered: recovered,
    ppgRecoveryRate: recoveryCases ? recovered / recoveryCases : Number.NaN,
    staleTrials: stalePick.length,
    staleUnlocks,
    flatGuessTrials: locked.length,
    flatGuessUnlocks: flatUnlocks,
    unlockMsMax: round2(times.length ? Math.max(...times) : Number.NaN),
    securityBitsMin: round2(bits.length ? Math.min(...bits) : Number.NaN),
    bruteForceBits: round2(median(security.map((s) => s.brute))),
    lockFailures: tooFew + weak,
    tooFewFeatures: tooFew,
    weakFeatures: weak,
    zeroToothRate: lockedSlots ? round4(zeroTeeth / lockedSlots) : Number.NaN,
    entropyBits: entropy(zeroTeeth, lockedSlots),
    windowSeconds: W,
    stepSeconds: step,
    params,
    maxShift: unlockOpts.maxShift ?? 2,
    records: summaries,
    agreement: records.flatMap(agreementOf),
    elapsedSeconds: round2((performance.now() - started) / 1000),
  };
}

function round4(v: number): number {
  return Math.round(v * 10000) / 10000;
}

function round2(v: number): number {
  return Number.isFinite(v) ? Math.round(v * 100) / 100 : v;
}

function equal(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}
