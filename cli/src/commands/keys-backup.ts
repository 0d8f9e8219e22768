/**
 * `vitalgate keys backup` and `vitalgate keys recover`: lock a patient's master secret in a fuzzy
 * vault of their own heartbeats, and get it back by measuring the same stretch of heartbeats again
 * (edge-gateway/src/bsn/key-backup.ts; docs/operations.md, "Key backup and recovery").
 *
 * Beats come from a WFDB record (one ECG lead or PLETH signal) or from a live MQTT waveform stream
 * of the patient (ECG by default), whose readings' timestamps put the beats on the wall clock.
 *
 * An optional recovery code (--recovery-code, --recovery-code-file) makes the backup need that code
 * as well as the heartbeats. The code only ever travels through stdout once at backup and through a
 * file (or stdin) at recovery: never a command-line value, which `ps` and shell history would show.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { InvalidArgumentError, type Command } from 'commander';
import { readWfdbRecord, type WfdbRecord } from '@vitalgate/device-sim';
import {
  DEFAULT_MIN_GUESS_BITS,
  DEFAULT_WINDOW_SECONDS,
  Keystore,
  WaveformBeats,
  backupMatchesSecret,
  backupPatientSecret,
  classifySignal,
  dataDirLayout,
  DataDirLock,
  RecoveryCodeError,
  backupNeedsRecoveryCode,
  defaultBackupPath,
  generateRecoveryCode,
  looksLikeRecoveryCode,
  openRecoveredSecret,
  recoveryCodeKey,
  type RecoveryCodeFormat,
  detectPulsePeaks,
  detectRPeaks,
  neighbourWindows,
  readBackupFile,
  recoverPatientSecret,
  restoreIntoKeystore,
  subscribeWaveform,
  vaultMatchesSecret,
  writeBackupFile,
  type BackupSource,
  type BeatWindow,
  type MeasuredWindow,
  type PatientBackup,
  type RecoveryAttempt,
  type TimeBase,
  type WaveformSubscription,
} from '@vitalgate/edge-gateway';
import { assertValidId } from '@vitalgate/protocol';
import { DEFAULT_DATA_DIR, nonNegativeNumber, positiveInt, positiveNumber } from '../options.js';
import { ALLOW_DEMO_OPTION, keystorePassphrase } from '../passphrase.js';
import { StatusLine } from '../status-line.js';

/** Seconds of signal before a window that the beat detectors get to learn the signal. */
const LEARN_SECONDS = 10;
/** Seconds of signal after a window, so its last beat is detected with its neighbours. */
const TAIL_SECONDS = 3;
/** Default warm-up skipped at the start of a live stream before the backup window. */
const LIVE_WARMUP_SECONDS = 5;
const DEFAULT_STEP_SECONDS = 1.5;
const DEFAULT_MAX_WINDOWS = 25;

class UserError extends Error {}


/** --record-start: ms since 1970, or an ISO 8601 time. Returns ms. */
function parseTime(v: string): number {
  const n = Number(v);
  if (v.trim() !== '' && Number.isFinite(n)) {
    if (n < 946684800000) throw new InvalidArgumentError('--record-start as a number is milliseconds since 1970 (e.g. 1718000000000)');
    return n;
  }
  const t = Date.parse(v);
  if (Number.isNaN(t)) throw new InvalidArgumentError('--record-start must be an ISO 8601 time (2025-06-01T08:30:00Z) or milliseconds since 1970');
  return t;
}

function streamName(v: string): 'ecg' | 'ppg' {
  if (v !== 'ecg' && v !== 'ppg') throw new InvalidArgumentError('--stream must be ecg or ppg');
  return v;
}

const isLive = (from: string): boolean => /^(mqtts?|wss?):\/\//i.test(from);

const fmtS = (s: number): string => (Math.abs(s) >= 1e6 ? new Date(s * 1000).toISOString() : `${Math.round(s * 1000) / 1000} s`);
const fmtWindow = (w: BeatWindow, base: TimeBase): string =>
  base === 'unix'
    ? `${new Date(w.startSeconds * 1000).toISOString()} + ${w.seconds} s`
    : `[${Math.round(w.startSeconds * 1000) / 1000}, ${Math.round((w.startSeconds + w.seconds) * 1000) / 1000}) s of record time`;

// ---------------------------------------------------------------------------------------------
// beats from a record

interface RecordSignal {
  index: number;
  description: string;
  sensor: 'ecg' | 'ppg';
}

function pulseSignals(rec: WfdbRecord): RecordSignal[] {
  const out: RecordSignal[] = [];
  rec.header.signals.forEach((s, index) => {
    const sensor = classifySignal(s.description);
    if (sensor) out.push({ index, description: s.description || `signal ${index}`, sensor });
  });
  // ECG leads first: lead to lead agrees best.
  return out.sort((a, b) => (a.sensor === b.sensor ? a.index - b.index : a.sensor === 'ecg' ? -1 : 1));
}

function pickSignals(rec: WfdbRecord, wanted: string | undefined, hea: string): RecordSignal[] {
  const all = pulseSignals(rec);
  const names = rec.header.signals.map((s, i) => `${i}:${s.description}`).join(', ');
  if (wanted === undefined) {
    if (!all.length) throw new UserError(`${hea} has no ECG lead or PPG (PLETH) signal (signals: ${names})`);
    return all;
  }
  const idx = /^\d+$/.test(wanted) ? Number(wanted) : rec.header.signals.findIndex((s) => s.description === wanted);
  const spec = rec.header.signals[idx];
  if (!spec) throw new UserError(`${hea} has no signal ${JSON.stringify(wanted)} (signals: ${names})`);
  const sensor = classifySignal(spec.description);
  if (!sensor) throw new UserError(`signal ${idx} (${spec.description}) of ${hea} is neither an ECG lead nor PPG: no heartbeats to take`);
  return [{ index: idx, description: spec.description || `signal ${idx}`, sensor }];
}

/** Beat times (record seconds) of one signal between fromS and toS (clipped to the record), with the detector's learning margin. */
function recordBeats(rec: WfdbRecord, sig: RecordSignal, fromS: number, toS: number): number[] {
  const fs = rec.sampleRate(sig.index);
  const x = rec.physical(sig.index);
  const a = Math.max(0, Math.floor((fromS - LEARN_SECONDS) * fs));
  const b = Math.min(x.length, Math.ceil((toS + TAIL_SECONDS) * fs));
  if (b <= a) return [];
  const part = x.subarray(a, b);
  const peaks = sig.sensor === 'ecg' ? detectRPeaks(part, fs) : detectPulsePeaks(part, fs);
  return peaks.map((p) => (a + p) / fs);
}

function recordDuration(rec: WfdbRecord): number {
  return rec.nFrames / rec.header.fs;
}

async function openRecord(hea: string): Promise<WfdbRecord> {
  try {
    return await readWfdbRecord(hea);
  } catch (e) {
    throw new UserError(`cannot read the record ${hea}: ${(e as Error).message}`);
  }
}

// ---------------------------------------------------------------------------------------------
// beats from a live stream

interface LiveOptions {
  from: string;
  patientId: string;
  device?: string;
  stream: 'ecg' | 'ppg';
  username?: string;
  timeout: number;
}

/** Subscribes to the patient's waveform stream, keeping to one device, with a status line. */
async function openLive(o: LiveOptions, status: StatusLine | null, label: string): Promise<{ beats: WaveformBeats; sub: WaveformSubscription; device: () => string | undefined; lastFrameAt: () => number; rejected: () => number }> {
  const beats = new WaveformBeats({ sensor: o.stream });
  let device = o.device;
  let lastFrameAt = Date.now();
  let rejected = 0;
  let others = new Set<string>();
  let sub: WaveformSubscription;
  try {
    sub = await subscribeWaveform({
      url: o.from,
      patientId: o.patientId,
      ...(o.device !== undefined ? { deviceId: o.device } : {}),
      stream: o.stream,
      mqtt: { ...(o.username !== undefined ? { username: o.username, password: process.env.VITALGATE_MQTT_PASSWORD } : {}) },
      onBody: (dev, body) => {
        if (device === undefined) device = dev;
        if (dev !== device) {
          if (!others.has(dev)) {
            others = new Set([...others, dev]);
            process.stderr.write(`${label}: ignoring ${o.stream} from device ${dev}; using ${device} (choose with --device)\n`);
          }
          return;
        }
        lastFrameAt = Date.now();
        beats.add(body);
      },
      onReject: () => void rejected++,
    });
  } catch (e) {
    throw new UserError(`cannot subscribe at ${o.from}: ${(e as Error).message}`);
  }
  status?.update(`${label}: listening on ${sub.filter}`, true);
  return { beats, sub, device: () => device, lastFrameAt: () => lastFrameAt, rejected: () => rejected };
}

// ---------------------------------------------------------------------------------------------
// keystore

async function openExistingKeystore(dataDir: string, passphrase: string): Promise<Keystore> {
  const dir = dataDirLayout(dataDir).keys;
  if (!existsSync(path.join(dir, 'keystore.json'))) {
    throw new UserError(`no keystore at ${dir}: is --data-dir the gateway's data directory?`);
  }
  return Keystore.open(dir, passphrase);
}

// ---------------------------------------------------------------------------------------------
// recovery code

export const RECOVERY_CODE_ENV = 'VITALGATE_RECOVERY_CODE_FILE';

/** The code from a file ('-' = stdin), without its trailing line break. */
function readRecoveryCodeFile(file: string): string {
  let text: string;
  try {
    text = readFileSync(file === '-' ? 0 : file, 'utf8');
  } catch (e) {
    throw new UserError(`cannot read the recovery code file ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  const code = text.replace(/\r?\n$/, '');
  if (!code.trim()) throw new UserError(`the recovery code file ${file} is empty`);
  if (file !== '-') {
    try {
      if ((statSync(file).mode & 0o077) !== 0) process.stderr.write(`warning: ${file} is readable by other users; chmod 600 it (or shred it once the code is on paper)\n`);
    } catch { /* raced a delete: reading it already worked */ }
  }
  return code;
}

/** A supplied code is a generated one when it has the generated shape (then its checks must pass), else a chosen passphrase. */
function suppliedCodeFormat(code: string): RecoveryCodeFormat {
  return looksLikeRecoveryCode(code) ? 'generated' : 'passphrase';
}

function fail(cmd: string, e: unknown, code = 1): never {
  process.stderr.write(`vitalgate keys ${cmd}: ${(e as Error).message}\n`);
  process.exit(code);
}

// ---------------------------------------------------------------------------------------------
// backup

interface BackupOpts {
  dataDir: string;
  patient: string;
  from: string;
  signal?: string;
  stream: 'ecg' | 'ppg';
  device?: string;
  start?: number;
  windowSeconds: number;
  recordStart?: number;
  out?: string;
  force?: boolean;
  passphraseFile?: string;
  allowDemoPassphrase?: boolean;
  username?: string;
  timeout: number;
  minGuessBits: number;
  recoveryCode?: boolean;
  recoveryCodeFile?: string;
  json?: boolean;
  quiet?: boolean;
}

async function backupAction(o: BackupOpts): Promise<void> {
  const status = o.quiet ? null : new StatusLine(process.stderr, 2000);
  let recoveryCode: { code: string; format: RecoveryCodeFormat; generated: boolean } | undefined;
  try {
    assertValidId('patient', o.patient);
    if (o.recoveryCode && o.recoveryCodeFile !== undefined) throw new UserError('give --recovery-code (generate one) or --recovery-code-file (use yours), not both');
    if (o.recoveryCode) recoveryCode = { code: generateRecoveryCode(), format: 'generated', generated: true };
    if (o.recoveryCodeFile !== undefined) {
      const code = readRecoveryCodeFile(o.recoveryCodeFile);
      recoveryCode = { code, format: suppliedCodeFormat(code), generated: false };
    }
  } catch (e) {
    fail('backup', new UserError((e as Error).message), 2);
  }
  let keystore: Keystore;
  try {
    const { passphrase } = await keystorePassphrase({ passphraseFile: o.passphraseFile, allowDemo: o.allowDemoPassphrase, keysDir: dataDirLayout(o.dataDir).keys });
    keystore = await openExistingKeystore(o.dataDir, passphrase);
  } catch (e) {
    fail('backup', e, 2);
  }
  let beats: number[];
  let window: BeatWindow;
  let timeBase: TimeBase;
  let source: BackupSource;
  let waitEnrolMs = 0;
  try {
    if (isLive(o.from)) {
      const live = await openLive({ from: o.from, patientId: o.patient, device: o.device, stream: o.stream, username: o.username, timeout: o.timeout }, status, 'keys backup');
      try {
        const warmup = o.start ?? LIVE_WARMUP_SECONDS;
        const total = warmup + o.windowSeconds + TAIL_SECONDS;
        await new Promise<void>((resolve, reject) => {
          const tick = setInterval(() => {
            const span = live.beats.span();
            const have = span ? (span.toMs - span.fromMs) / 1000 : 0;
            status?.update(`keys backup: collecting ${live.sub.filter.replace('+', live.device() ?? '+')}: ${have.toFixed(1)}/${total.toFixed(1)} s of signal, ${live.beats.frameCount} frames`);
            if (have >= total) {
              clearInterval(tick);
              resolve();
            } else if (Date.now() - live.lastFrameAt() > o.timeout * 1000) {
              clearInterval(tick);
              reject(new UserError(`no ${o.stream} frame on ${live.sub.filter} for ${o.timeout} s (${have.toFixed(1)} of ${total.toFixed(1)} s collected${live.rejected() ? `, ${live.rejected()} undecodable messages` : ''}); is the device streaming?`));
            }
          }, 200);
        });
        const span = live.beats.span()!;
        window = { startSeconds: span.fromMs / 1000 + warmup, seconds: o.windowSeconds };
        beats = live.beats.beats();
        timeBase = 'unix';
        source = { kind: 'live', name: `${o.from.replace(/\/\/[^@/]*@/, '//')}/${live.sub.filter.replace('+', live.device() ?? '+')}`, signal: o.stream, sensor: o.stream };
        waitEnrolMs = 15_000; // a stream that just started may not be enrolled by the gateway yet
      } finally {
        await live.sub.close();
      }
    } else {
      const rec = await openRecord(o.from);
      const sig = o.signal === undefined ? pickSignals(rec, undefined, o.from)[0]! : pickSignals(rec, o.signal, o.from)[0]!;
      const start = o.start ?? 0;
      const dur = recordDuration(rec);
      if (start + o.windowSeconds > dur + 1e-9) {
        throw new UserError(`the window [${start}, ${start + o.windowSeconds}) s does not fit in ${o.from} (${dur.toFixed(1)} s long)`);
      }
      status?.update(`keys backup: detecting beats in ${sig.description} of ${o.from}`, true);
      const recBeats = recordBeats(rec, sig, start, start + o.windowSeconds);
      const offset = o.recordStart !== undefined ? o.recordStart / 1000 : 0;
      beats = recBeats.map((t) => t + offset);
      window = { startSeconds: offset + start, seconds: o.windowSeconds };
      timeBase = o.recordStart !== undefined ? 'unix' : 'record';
      source = { kind: 'record', name: rec.header.record || path.basename(o.from, '.hea'), signal: sig.description, sensor: sig.sensor };
    }
  } catch (e) {
    status?.done();
    fail('backup', e);
  }
  status?.done();
  try {
    const deadline = Date.now() + waitEnrolMs;
    while (!(await keystore.get(o.patient)) && Date.now() < deadline) {
      status?.update(`keys backup: waiting for the gateway to enrol ${o.patient}`);
      await new Promise((r) => setTimeout(r, 250));
    }
    if (recoveryCode) status?.update('keys backup: deriving a key from the recovery code (scrypt)', true);
    let r: Awaited<ReturnType<typeof backupPatientSecret>>;
    try {
      r = await backupPatientSecret({
        keystore, patientId: o.patient, beatTimesSeconds: beats, window, timeBase, source, lock: { minGuessBits: o.minGuessBits },
        ...(recoveryCode ? { recoveryCode: { code: recoveryCode.code, format: recoveryCode.format } } : {}),
      });
    } finally {
      status?.done();
    }
    const out = o.out ?? defaultBackupPath(o.dataDir, o.patient);
    await writeBackupFile(out, r.vaultJson, { force: o.force });
    const summary = {
      path: out,
      patientId: o.patient,
      timeBase,
      window,
      source,
      beats: beats.filter((t) => t >= window.startSeconds && t < window.startSeconds + window.seconds).length,
      ipisLocked: r.features,
      points: r.vault.xs.length,
      securityBits: Math.round(r.security.securityBits * 10) / 10,
      bruteForceBits: Math.round(r.security.bruteForceBits * 10) / 10,
      zeroGuessBits: Number.isFinite(r.zeroGuessBits) ? Math.round(r.zeroGuessBits * 10) / 10 : null,
      containsKey: false,
      recoveryCodeRequired: recoveryCode !== undefined,
    };
    if (o.json) {
      // The one place a generated code is ever shown: the caller asked for JSON on stdout.
      process.stdout.write(JSON.stringify(recoveryCode?.generated ? { ...summary, recoveryCode: recoveryCode.code } : summary) + '\n');
    } else {
      process.stdout.write([
        `key backup of patient ${o.patient} written to ${out}`,
        `  window:   ${fmtWindow(window, timeBase)} — ${source.kind === 'live' ? 'stream' : 'record'} ${source.name}, ${source.signal}; ${summary.beats} beats, ${summary.ipisLocked} IPIs locked among ${summary.points - summary.ipisLocked} chaff points`,
        `  security: ${summary.securityBits} bits against brute force; ` +
          (summary.zeroGuessBits === null ? 'a "no heart-rate variability" guess cannot open it' : `a "no heart-rate variability" guess needs ~2^${summary.zeroGuessBits} decodings`),
        recoveryCode
          ? '  The file holds a fuzzy vault hiding a random key and the secret sealed under that key and the recovery code: no usable key.'
          : '  The file is public helper data (a fuzzy vault and a salted hash of the secret): it contains no key.',
        '  Keep copies off this gateway, and keep a recording from another sensor on the same body that',
        `  covers this window (a second wearable's archive, a Holter): recovery must measure this window again.`,
        ...(recoveryCode?.generated
          ? [
              '',
              '  RECOVERY CODE — shown this once, stored nowhere. Write it down now and keep it apart from the backup file:',
              '',
              `      ${recoveryCode.code}`,
              '',
              '  Recovery needs this code AND a recording of the window above: without the code the backup cannot be',
              '  opened by anyone, including you. Typos are caught group by group when it is typed back.',
            ]
          : recoveryCode
            ? ['', `  Recovery needs the recovery code in ${o.recoveryCodeFile} as well as the heartbeats; it was not stored in the backup.`]
            : []),
        '',
      ].join('\n'));
    }
  } catch (e) {
    fail('backup', e);
  }
}

// ---------------------------------------------------------------------------------------------
// recover

interface RecoverOpts {
  vault: string;
  dataDir: string;
  from: string;
  signal?: string;
  stream: 'ecg' | 'ppg';
  device?: string;
  recordStart?: number;
  maxWindows: number;
  stepSeconds: number;
  passphraseFile?: string;
  recoveryCodeFile?: string;
  allowDemoPassphrase?: boolean;
  username?: string;
  timeout: number;
  json?: boolean;
  quiet?: boolean;
}

/** Beat times measured on `from` → the backup's clock. */
function toBackupClock(measured: TimeBase, backup: PatientBackup, recordStartMs: number | undefined): (t: number) => number {
  if (measured === backup.timeBase) return (t) => t;
  if (recordStartMs === undefined) {
    throw new UserError(
      backup.timeBase === 'unix'
        ? `this backup's window is on the wall clock (${fmtWindow(backup.window, 'unix')}); a record file is on its own clock: give --record-start <when the recording began> to place it`
        : `this backup's window is in the record time of ${backup.source.name} (${fmtWindow(backup.window, 'record')}); a live stream is on the wall clock: give --record-start <when that recording began>`,
    );
  }
  const off = recordStartMs / 1000;
  return measured === 'record' ? (t) => t + off : (t) => t - off;
}

async function recoverAction(o: RecoverOpts): Promise<void> {
  const status = o.quiet ? null : new StatusLine(process.stderr, 2000);
  let backup: PatientBackup;
  let passphrase: string;
  const keysDir = dataDirLayout(o.dataDir).keys;
  const existed = existsSync(path.join(keysDir, 'keystore.json'));
  let keystore: Keystore | undefined;
  let codeKey: Uint8Array | undefined;
  try {
    // Recovery writes a master secret: a gateway running on the same directory could enrol the
    // patient at the same moment and one secret would overwrite the other.
    await DataDirLock.acquire(o.dataDir, 'keys recover');
    backup = await readBackupFile(o.vault);
    const codeFile = o.recoveryCodeFile ?? process.env[RECOVERY_CODE_ENV];
    if (backupNeedsRecoveryCode(backup)) {
      if (codeFile === undefined || codeFile === '') {
        throw new UserError(
          `the key backup ${o.vault} needs its recovery code as well as the heartbeats: put the code in a file and pass ` +
            `--recovery-code-file FILE (or set ${RECOVERY_CODE_ENV}; "-" reads it from stdin). Nothing was measured or written.`,
        );
      }
      const code = readRecoveryCodeFile(codeFile);
      status?.update('keys recover: deriving the key from the recovery code (scrypt)', true);
      // Typos are caught here, before the slow scrypt and before any measuring.
      codeKey = await recoveryCodeKey(backup, code);
    } else if (codeFile !== undefined && codeFile !== '' && o.recoveryCodeFile !== undefined) {
      process.stderr.write(`vitalgate keys recover: warning: ${o.vault} was backed up without a recovery code; --recovery-code-file is not used\n`);
    }
    passphrase = (await keystorePassphrase({ passphraseFile: o.passphraseFile, allowDemo: o.allowDemoPassphrase, keysDir })).passphrase;
    // An existing keystore is opened (read only) before measuring, so a wrong passphrase shows up
    // at once; a new one is created only once there is a verified secret to put in it.
    if (existed) keystore = await Keystore.open(keysDir, passphrase);
  } catch (e) {
    status?.done();
    fail('recover', e instanceof RecoveryCodeError ? new UserError(`${e.message}; check ${e.group !== null ? 'that group' : 'it'} against the code written down at backup. Nothing was measured or written.`) : e, 2);
  }
  const twoFactor = backupNeedsRecoveryCode(backup);
  const candidates = neighbourWindows(backup.window, { stepSeconds: o.stepSeconds, count: o.maxWindows });
  const onAttempt = (a: RecoveryAttempt, i: number): void => {
    status?.update(`keys recover: window ${i + 1}/${o.maxWindows} ${a.label ?? ''} ${fmtWindow(a.window, backup.timeBase)}: ${a.beats} beats, ${a.unlocked ? 'UNLOCKED' : 'no'} (${a.ms} ms)`, true);
  };
  let result: Awaited<ReturnType<typeof recoverPatientSecret>>;
  let coverage = '';
  const started = performance.now();
  try {
    if (isLive(o.from)) {
      const toBackup = toBackupClock('unix', backup, o.recordStart);
      const live = await openLive({ from: o.from, patientId: backup.patientId, device: o.device, stream: o.stream, username: o.username, timeout: o.timeout }, status, 'keys recover');
      try {
        // Successive windows of the live stream: each candidate is measured once the stream has covered it.
        const pending = [...candidates];
        const lastEnd = Math.max(...pending.map((w) => w.startSeconds + w.seconds));
        const next = async (): Promise<MeasuredWindow | null> => {
          for (;;) {
            if (!pending.length) return null;
            const span = live.beats.span();
            if (span) {
              const fromB = toBackup(span.fromMs / 1000);
              const toB = toBackup(span.toMs / 1000);
              if (fromB > lastEnd) {
                coverage = `the stream starts at ${fmtS(fromB)}, after every candidate window ended (last ${fmtS(lastEnd)}): a sensor measuring now cannot re-measure a past window; replay a recording that covers it`;
                return null;
              }
              const i = pending.findIndex((w) => toB >= w.startSeconds + w.seconds + TAIL_SECONDS);
              if (i >= 0) {
                const w = pending.splice(i, 1)[0]!;
                if (fromB > w.startSeconds) coverage = `the stream began at ${fmtS(fromB)}, after the start of some candidate windows`;
                return { beatTimesSeconds: live.beats.beats().map(toBackup), window: w, label: o.stream };
              }
              status?.update(`keys recover: ${live.beats.frameCount} frames up to ${fmtS(toB)}; next window ends ${fmtS(Math.min(...pending.map((w) => w.startSeconds + w.seconds)))}`);
            }
            if (Date.now() - live.lastFrameAt() > o.timeout * 1000) {
              coverage = `no ${o.stream} frame on ${live.sub.filter} for ${o.timeout} s`;
              return null;
            }
            await new Promise((r) => setTimeout(r, 200));
          }
        };
        result = await recoverPatientSecret({ vault: backup.vault, windows: next, maxWindows: o.maxWindows, onAttempt });
      } finally {
        await live.sub.close();
      }
    } else {
      const rec = await openRecord(o.from);
      const sigs = pickSignals(rec, o.signal, o.from);
      const toBackup = toBackupClock('record', backup, o.recordStart);
      // Candidate windows in record time, to know which stretch of the record to analyse.
      const recOff = toBackup(0);
      const lo = Math.min(...candidates.map((w) => w.startSeconds)) - recOff;
      const hi = Math.max(...candidates.map((w) => w.startSeconds + w.seconds)) - recOff;
      const dur = recordDuration(rec);
      const perSignal = sigs.map((sig) => {
        status?.update(`keys recover: detecting beats in ${sig.description} of ${o.from}`, true);
        return { sig, beats: recordBeats(rec, sig, lo, hi).map(toBackup) };
      });
      const w0 = backup.window;
      if (w0.startSeconds - recOff >= dur || w0.startSeconds + w0.seconds - recOff <= 0) {
        coverage = `the recording covers ${fmtS(recOff)} … ${fmtS(recOff + dur)} on the backup's clock, outside the backup window ${fmtWindow(w0, backup.timeBase)}`;
      }
      // Window-major order: every signal at the backup window, then every signal one step away, …
      const plan: MeasuredWindow[] = [];
      for (const w of candidates) for (const s of perSignal) plan.push({ beatTimesSeconds: s.beats, window: w, label: s.sig.description });
      result = await recoverPatientSecret({ vault: backup.vault, windows: plan, maxWindows: o.maxWindows, onAttempt });
    }
  } catch (e) {
    status?.done();
    fail('recover', e, e instanceof UserError ? 2 : 1);
  }
  status?.done();
  const totalMs = Math.round(performance.now() - started);
  const attempts = result.attempts.map((a) => ({ ...a }));
  // With a second factor, beats that open the vault and a code that opens the sealed PMS fail the
  // same way: one message, one exit code (docs/key-backup.md says what still tells them apart).
  const pms = result.secret ? openRecoveredSecret(backup, result.secret, codeKey) : null;
  if (!result.secret || !pms) {
    const n = result.windowsTried;
    const reason = twoFactor
      ? `not recovered after ${n} window${n === 1 ? '' : 's'}: wrong recovery code or heartbeats do not match (the code must be the one printed at backup, and the recording must overlap the backup window ${fmtWindow(backup.window, backup.timeBase)} and come from the same body)`
      : result.secret ? 'internal error: the vault opened but its secret does not match' : result.reason;
    const msg = `${reason}${coverage ? `; ${coverage}` : ''}. Nothing was written.`;
    if (o.json) process.stdout.write(JSON.stringify({ recovered: false, patientId: backup.patientId, windowsTried: result.windowsTried, reason: msg, attempts }) + '\n');
    process.stderr.write(`vitalgate keys recover: ${msg}\n`);
    process.exit(1);
  }
  // The vault's hash already guarantees what it hid (the PMS, or K_v with a second factor, whose PMS
  // the AEAD tag guarantees); check it again, and the backup's own MAC under the PMS, before writing.
  if (!vaultMatchesSecret(backup.vault, result.secret)) fail('recover', new Error('internal error: the recovered secret does not match the vault; nothing written'));
  if (!backupMatchesSecret(backup, pms)) {
    fail('recover', new UserError(`the backup's patient id, window or source were altered after it was written (its MAC does not verify under the recovered secret); nothing written`));
  }
  let written: boolean;
  try {
    keystore ??= await Keystore.open(keysDir, passphrase);
    written = (await restoreIntoKeystore(keystore, backup.patientId, pms, twoFactor ? undefined : backup.vault)).written;
  } catch (e) {
    fail('recover', e);
  }
  const unlock = result.attempts[result.attempts.length - 1]!;
  if (o.json) {
    process.stdout.write(JSON.stringify({
      recovered: true, patientId: backup.patientId, windowsTried: result.windowsTried, window: result.window, signal: result.label ?? null,
      unlockMs: unlock.ms, totalMs, written, keystore: keysDir, attempts,
    }) + '\n');
  } else {
    process.stdout.write([
      `recovered the master secret of patient ${backup.patientId} after ${result.windowsTried} window${result.windowsTried === 1 ? '' : 's'} ` +
        `(unlocked by ${result.label ?? 'the stream'} over ${fmtWindow(result.window, backup.timeBase)}, ${unlock.ms} ms; ${totalMs} ms in all)`,
      written
        ? `  sealed into ${existed ? 'the keystore' : 'a new keystore'} at ${keysDir}; \`vitalgate open --data-dir ${o.dataDir}\` reads the patient's data again`
        : `  the keystore at ${keysDir} already held this same secret: nothing changed`,
      '',
    ].join('\n'));
  }
}

// ---------------------------------------------------------------------------------------------

const LIMITATION = [
  'Limitation: inter-pulse intervals change from minute to minute, so only the same stretch of the',
  'same body reopens a vault. Recovery needs a recording, from any sensor on the same body, that',
  'covers the backup window: a second wearable\'s archive, or a Holter recording kept with the',
  'backup. A sensor measuring today cannot reopen a backup made last week. Another ECG lead agrees',
  'best; a PPG\'s pulse-transit jitter often exceeds the vault\'s ±6 ms tolerance (measure your',
  'sensors with `vitalgate keys evaluate`).',
];

export function registerKeyBackup(keys: Command): void {
  keys
    .command('backup')
    .description("lock a patient's master secret in a fuzzy vault of their heartbeats (public helper data, no key)")
    .requiredOption('--patient <id>', 'patient whose master secret to back up')
    .requiredOption('--from <source>', 'a WFDB record (record.hea) or a live broker (mqtt://host:port) streaming the patient\'s ECG')
    .option('--data-dir <dir>', 'gateway data directory (its keystore holds the secret)', DEFAULT_DATA_DIR)
    .option('--passphrase-file <file>', 'file holding the gateway passphrase (or set VITALGATE_PASSPHRASE_FILE)')
    .option(...ALLOW_DEMO_OPTION)
    .option('--signal <i|name>', 'record: which signal (index or description, e.g. 0 or MLII; default the first ECG lead, else PLETH)')
    .option('--stream <ecg|ppg>', 'live: which waveform stream', streamName, 'ecg')
    .option('--device <id>', 'live: the device to listen to (default the first that sends)')
    .option('--start <s>', `window start: record seconds (default 0), or live seconds of warm-up after the first frame (default ${LIVE_WARMUP_SECONDS})`, nonNegativeNumber('--start'))
    .option('--window-seconds <s>', 'window length', positiveNumber('--window-seconds'), DEFAULT_WINDOW_SECONDS)
    .option('--record-start <time>', 'record: when the recording began (ISO 8601 or ms since 1970), to put the window on the wall clock', parseTime)
    .option('--out <file>', 'where to write the backup (default <data-dir>/backup/<patient>.vault.json)')
    .option('--force', 'replace an existing backup file')
    .option('--username <u>', 'live: MQTT username (password from VITALGATE_MQTT_PASSWORD)')
    .option('--timeout <s>', 'live: give up after this long without a frame', positiveNumber('--timeout'), 30)
    .option('--min-guess-bits <b>', 'refuse windows a "no heart-rate variability" guess opens in fewer than 2^b decodings', nonNegativeNumber('--min-guess-bits'), DEFAULT_MIN_GUESS_BITS)
    .option('--recovery-code', 'also require a recovery code to recover: generate one (140 bits) and print it once on stdout')
    .option('--recovery-code-file <file>', 'also require a recovery code to recover: the code in this file ("-" = stdin); a generated-looking code must pass its checks, other text is a passphrase of 12+ characters')
    .option('--json', 'print a JSON summary on stdout (with --recovery-code: the code, in "recoveryCode")')
    .option('--quiet', 'no progress on stderr')
    .addHelpText('after', [
      '',
      'The secret is read from the keystore (so the gateway passphrase is needed) and locked with the',
      'inter-pulse intervals of one window of the patient\'s ECG (R peaks) or PPG (pulses). From a',
      'record the window is in record time; from a live stream (vg/v1/<patient>/<device>/ecg, decoded',
      'waveform frames) the beats are placed by the readings\' timestamps, so the window is on the wall',
      'clock. The written file holds the vault (genuine and chaff points, and only a salted SHA-256 of',
      'the secret), the patient id, window, parameters, creation time and a MAC keyed by the secret:',
      'no key. The secret is never printed or logged. A window with too few beats or too little',
      'heart-rate variability for a safe vault is refused (exit 1); pick another with --start.',
      '',
      'Second factor: with --recovery-code the vault hides a random key instead of the secret, and the',
      'secret is sealed under a key derived from both that random key and a recovery code (scrypt, then',
      'HKDF; XChaCha20-Poly1305). The code is printed once on stdout, as 7 groups of 5 characters, and',
      'is never written to the backup, the data directory or a log: write it down. Recovery then needs',
      'the code AND the heartbeats; neither alone opens the backup. Someone who recorded the window\'s',
      'beats (a recording, plaintext broker traffic) cannot recover the secret without the code.',
      '',
      ...LIMITATION,
      '',
      'Examples:',
      '  vitalgate keys backup --data-dir /var/lib/vitalgate --patient patient-0100 --from ../shared/data/physionet/100.hea --signal MLII --start 60',
      '  vitalgate keys backup --data-dir /var/lib/vitalgate --patient patient-0100 --from mqtt://127.0.0.1:1883 --device strap-1 --out /media/usb/patient-0100.vault.json',
      '  vitalgate keys backup --data-dir /var/lib/vitalgate --patient patient-0100 --from ../shared/data/physionet/100.hea --signal MLII --recovery-code',
    ].join('\n'))
    .action((o: BackupOpts) => backupAction(o));

  keys
    .command('recover')
    .description('measure the backup window again (a record or a live stream) until it unlocks, and seal the secret into a keystore')
    .requiredOption('--vault <file>', 'key backup written by `vitalgate keys backup`')
    .requiredOption('--from <source>', 'a WFDB record (record.hea) covering the backup window, or a live broker (mqtt://host:port)')
    .option('--data-dir <dir>', 'data directory whose keystore receives the secret (created if needed)', DEFAULT_DATA_DIR)
    .option('--passphrase-file <file>', 'file holding the gateway passphrase (or set VITALGATE_PASSPHRASE_FILE)')
    .option(...ALLOW_DEMO_OPTION)
    .option('--signal <i|name>', 'record: which signal (default: every ECG lead, then PLETH, in turn)')
    .option('--stream <ecg|ppg>', 'live: which waveform stream', streamName, 'ecg')
    .option('--device <id>', 'live: the device to listen to (default the first that sends)')
    .option('--record-start <time>', 'when the recording began (ISO 8601 or ms since 1970), when its clock and the backup\'s differ', parseTime)
    .option('--max-windows <n>', 'give up after this many windows', positiveInt('--max-windows'), DEFAULT_MAX_WINDOWS)
    .option('--step-seconds <s>', 'distance between neighbouring candidate windows', positiveNumber('--step-seconds'), DEFAULT_STEP_SECONDS)
    .option('--recovery-code-file <file>', `file holding the recovery code of a backup made with one ("-" = stdin; or set ${RECOVERY_CODE_ENV})`)
    .option('--username <u>', 'live: MQTT username (password from VITALGATE_MQTT_PASSWORD)')
    .option('--timeout <s>', 'live: give up after this long without a frame', positiveNumber('--timeout'), 30)
    .option('--json', 'print a JSON result on stdout')
    .option('--quiet', 'no progress on stderr')
    .addHelpText('after', [
      '',
      'Windows are measured one after another until one unlocks the vault: the backup window first,',
      'then neighbours shifted by ±1, ±2 … × --step-seconds (the decoder absorbs ±2 beats of offset,',
      'so steps of ~1.5 s scan a clock offset between backup and recording without gaps), each on',
      'every pulse-bearing signal of the record in turn (or on the live stream, as soon as it has',
      'covered the window). The vault\'s salted hash means a wrong secret is never produced; it is',
      'checked again, with the backup\'s MAC, before the secret is sealed under the passphrase. A',
      'keystore that already holds a different secret for the patient is never overwritten.',
      '',
      'A backup made with a recovery code needs it too, from --recovery-code-file (never a command-line',
      'value: `ps` would show it). A mistyped group is named before anything is measured. A wrong code',
      'and heartbeats that do not match fail alike: "wrong recovery code or heartbeats do not match".',
      '',
      'Exit 0: recovered (or already present). Exit 1: not recovered after N windows — nothing was',
      'written; the recording must overlap the backup window, or try another sensor; with a second',
      'factor, or the code is wrong — or the keystore already holds a different secret for the',
      'patient. Exit 2: bad arguments, wrong passphrase, unreadable or damaged backup file, unreadable',
      'record, a backup that needs a recovery code given none, a mistyped code. Stop the gateway of',
      '--data-dir first.',
      '',
      ...LIMITATION,
      '',
      'Examples:',
      '  vitalgate keys recover --vault patient-0100.vault.json --data-dir /var/lib/vitalgate-new --from holter/100.hea --signal V5',
      '  vitalgate keys recover --vault patient-0100.vault.json --data-dir /var/lib/vitalgate-new --from holter/100.hea --record-start 2025-06-01T08:30:00Z',
      '  vitalgate keys recover --vault patient-0100.vault.json --data-dir /var/lib/vitalgate-new --from mqtt://127.0.0.1:1883 --device archive-replay',
      '  vitalgate keys recover --vault patient-0100.vault.json --data-dir /var/lib/vitalgate-new --from holter/100.hea --recovery-code-file - < code.txt',
    ].join('\n'))
    .action((o: RecoverOpts) => recoverAction(o));
}
