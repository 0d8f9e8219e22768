/**
 * Beats from a patient's live waveform stream (MQTT), placed on the wall clock by the readings'
 * own timestamps: a backup window captured once the stream has covered it, and for recovery the
 * candidate windows measured one after another as the stream covers each.
 */
import type { BeatWindow } from '../features/ipi-features.js';
import type { PatientBackup } from '../backup/document.js';
import type { MeasuredWindow } from '../backup/recover.js';
import { formatBackupTime, toBackupClock } from './clock.js';
import { SourceError } from './errors.js';
import { subscribeWaveform, type WaveformSubscription } from './mqtt-waveform.js';
import { TAIL_SECONDS, type CapturedWindow } from './record.js';
import { WaveformBeats } from './waveform-beats.js';

/** Default warm-up skipped at the start of a live stream before the backup window. */
export const LIVE_WARMUP_SECONDS = 5;

export interface LiveOptions {
  /** The broker (mqtt://host:port …). */
  url: string;
  patientId: string;
  /** Default: the first device that sends; others are ignored (with a notice). */
  deviceId?: string;
  stream: 'ecg' | 'ppg';
  username?: string;
  password?: string;
  /** Give up after this long without a frame (s). */
  timeoutSeconds: number;
  onProgress?: (line: string, force?: boolean) => void;
  onNotice?: (line: string) => void;
}

/** A subscribed stream of one device, collecting its beats. */
export interface LiveWaveform {
  beats: WaveformBeats;
  sub: WaveformSubscription;
  device(): string | undefined;
  lastFrameAt(): number;
  rejected(): number;
}

/** Subscribes to the patient's waveform stream, keeping to one device. Throws SourceError when the subscription fails. */
export async function openLiveWaveform(o: LiveOptions): Promise<LiveWaveform> {
  const beats = new WaveformBeats({ sensor: o.stream });
  let device = o.deviceId;
  let lastFrameAt = Date.now();
  let rejected = 0;
  let others = new Set<string>();
  let sub: WaveformSubscription;
  try {
    sub = await subscribeWaveform({
      url: o.url,
      patientId: o.patientId,
      ...(o.deviceId !== undefined ? { deviceId: o.deviceId } : {}),
      stream: o.stream,
      mqtt: { ...(o.username !== undefined ? { username: o.username, password: o.password } : {}) },
      onBody: (dev, body) => {
        if (device === undefined) device = dev;
        if (dev !== device) {
          if (!others.has(dev)) {
            others = new Set([...others, dev]);
            o.onNotice?.(`ignoring ${o.stream} from device ${dev}; using ${device} (choose with --device)`);
          }
          return;
        }
        lastFrameAt = Date.now();
        beats.add(body);
      },
      onReject: () => void rejected++,
    });
  } catch (e) {
    throw new SourceError(`cannot subscribe at ${o.url}: ${(e as Error).message}`);
  }
  o.onProgress?.(`listening on ${sub.filter}`, true);
  return { beats, sub, device: () => device, lastFrameAt: () => lastFrameAt, rejected: () => rejected };
}

/**
 * Collects warm-up + window + a tail of the stream, and returns the window's beats on the wall
 * clock. Throws SourceError when no frame came for timeoutSeconds.
 */
export async function captureLiveWindow(o: LiveOptions & { warmupSeconds?: number; windowSeconds: number }): Promise<CapturedWindow> {
  const live = await openLiveWaveform(o);
  try {
    const warmup = o.warmupSeconds ?? LIVE_WARMUP_SECONDS;
    const total = warmup + o.windowSeconds + TAIL_SECONDS;
    const filter = (): string => live.sub.filter.replace('+', live.device() ?? '+');
    await new Promise<void>((resolve, reject) => {
      const tick = setInterval(() => {
        const span = live.beats.span();
        const have = span ? (span.toMs - span.fromMs) / 1000 : 0;
        o.onProgress?.(`collecting ${filter()}: ${have.toFixed(1)}/${total.toFixed(1)} s of signal, ${live.beats.frameCount} frames`);
        if (have >= total) {
          clearInterval(tick);
          resolve();
        } else if (Date.now() - live.lastFrameAt() > o.timeoutSeconds * 1000) {
          clearInterval(tick);
          reject(new SourceError(`no ${o.stream} frame on ${live.sub.filter} for ${o.timeoutSeconds} s (${have.toFixed(1)} of ${total.toFixed(1)} s collected${live.rejected() ? `, ${live.rejected()} undecodable messages` : ''}); is the device streaming?`));
        }
      }, 200);
    });
    const span = live.beats.span()!;
    return {
      window: { startSeconds: span.fromMs / 1000 + warmup, seconds: o.windowSeconds },
      beats: live.beats.beats(),
      timeBase: 'unix',
      source: { kind: 'live', name: `${o.url.replace(/\/\/[^@/]*@/, '//')}/${filter()}`, signal: o.stream, sensor: o.stream },
    };
  } finally {
    await live.sub.close();
  }
}

/**
 * Recovery from a live stream: successive windows of the stream, each candidate measured once the
 * stream has covered it (null when none is left, the stream began after every candidate ended, or
 * no frame came for timeoutSeconds; coverage() then says why). Close the stream with close().
 */
export async function liveRecoveryWindows(
  o: LiveOptions & { backup: PatientBackup; candidates: BeatWindow[]; recordStartMs?: number },
): Promise<{ next: () => Promise<MeasuredWindow | null>; coverage: () => string; close: () => Promise<void> }> {
  const toBackup = toBackupClock('unix', o.backup, o.recordStartMs);
  const live = await openLiveWaveform(o);
  let coverage = '';
  const pending = [...o.candidates];
  const lastEnd = Math.max(...pending.map((w) => w.startSeconds + w.seconds));
  const next = async (): Promise<MeasuredWindow | null> => {
    for (;;) {
      if (!pending.length) return null;
      const span = live.beats.span();
      if (span) {
        const fromB = toBackup(span.fromMs / 1000);
        const toB = toBackup(span.toMs / 1000);
        if (fromB > lastEnd) {
          coverage = `the stream starts at ${formatBackupTime(fromB)}, after every candidate window ended (last ${formatBackupTime(lastEnd)}): a sensor measuring now cannot re-measure a past window; replay a recording that covers it`;
          return null;
        }
        const i = pending.findIndex((w) => toB >= w.startSeconds + w.seconds + TAIL_SECONDS);
        if (i >= 0) {
          const w = pending.splice(i, 1)[0]!;
          if (fromB > w.startSeconds) coverage = `the stream began at ${formatBackupTime(fromB)}, after the start of some candidate windows`;
          return { beatTimesSeconds: live.beats.beats().map(toBackup), window: w, label: o.stream };
        }
        o.onProgress?.(`${live.beats.frameCount} frames up to ${formatBackupTime(toB)}; next window ends ${formatBackupTime(Math.min(...pending.map((w) => w.startSeconds + w.seconds)))}`);
      }
      if (Date.now() - live.lastFrameAt() > o.timeoutSeconds * 1000) {
        coverage = `no ${o.stream} frame on ${live.sub.filter} for ${o.timeoutSeconds} s`;
        return null;
      }
      await new Promise((r) => setTimeout(r, 200));
    }
  };
  return { next, coverage: () => coverage, close: () => live.sub.close() };
}
