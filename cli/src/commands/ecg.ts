import path from 'node:path';
import { InvalidArgumentError, type Command } from 'commander';
import { detectRPeaks, isBeatAnnotation, readWfdbAnnotations, readWfdbRecord, scoreBeats, type WfdbRecord } from '@vitalgate/biosignal';
import { nonNegativeNumber, positiveNumber } from '../options.js';

/** A file that cannot be read (missing, unreadable, malformed): one line on stderr, exit 1. */
function unreadable(e: unknown): never {
  process.stderr.write(`vitalgate ecg: ${(e as Error).message}\n`);
  process.exit(1);
}

/** A request the record cannot satisfy (no such signal, window outside it): exit 2. */
function invalid(msg: string): never {
  process.stderr.write(`vitalgate ecg: ${msg}\n`);
  process.exit(2);
}

function signalIndex(v: string): number {
  const n = Number(v);
  if (v.trim() === '' || !Number.isInteger(n) || n < 0) throw new InvalidArgumentError('--signal must be a signal number: 0, 1, …');
  return n;
}


async function openSignal(hea: string, signal: number): Promise<{ rec: WfdbRecord; fs: number; description: string; name: string }> {
  let rec: WfdbRecord;
  try {
    rec = await readWfdbRecord(hea);
  } catch (e) {
    unreadable(e);
  }
  const count = rec.header.signals.length;
  if (signal >= count) invalid(`--signal ${signal} does not exist: record ${rec.header.record} has ${count} signal${count === 1 ? '' : 's'} (0-${count - 1})`);
  const spec = rec.header.signals[signal]!;
  return { rec, fs: rec.sampleRate(signal), description: spec.description || `signal ${signal}`, name: rec.header.record || path.basename(hea, '.hea') };
}

const pct = (v: number): string => `${(100 * v).toFixed(2)} %`;

export function registerEcg(program: Command): void {
  const ecg = program
    .command('ecg')
    .description('ECG beat detection on WFDB records (the R peaks behind the BSN key backup)')
    .addHelpText('after', [
      '',
      'R peaks come from a Pan–Tompkins detector (5-15 Hz band-pass, derivative, squaring, 150 ms',
      'integration, adaptive thresholds, T-wave test, searchback) that works at any sampling rate,',
      'on inverted leads, and across invalid (NaN) samples.',
      '',
      'Examples:',
      '  vitalgate ecg rpeaks ../shared/data/physionet/100.hea --signal 0 --from 60 --seconds 10',
      '  vitalgate ecg score ../shared/data/physionet/100.hea --signal 0 --annotations ../shared/data/physionet/100.atr',
    ].join('\n'));

  ecg
    .command('rpeaks <record.hea>')
    .description('detect the R peaks of one ECG signal of a WFDB record and print their sample numbers')
    .requiredOption('--signal <i>', 'signal number in the header (0 = first)', signalIndex)
    .option('--from <s>', 'start of the window to analyse, seconds from the start of the record', nonNegativeNumber('--from', 'a number of seconds'), 0)
    .option('--seconds <s>', 'length of the window to analyse (default: to the end of the record)', positiveNumber('--seconds'))
    .option('--json', 'print {record, signal, description, fs, start, samples, count, peaks: [...]}')
    .addHelpText('after', [
      '',
      'Sample numbers count from the start of the record (not of the window), at the signal\'s own',
      'sampling rate, so they line up with annotation files. Without --json: one peak per line, the',
      'sample number and its time in seconds, after a summary line.',
      'A record that cannot be read exits 1; a signal it does not have exits 2.',
      '',
      'Examples:',
      '  vitalgate ecg rpeaks ../shared/data/physionet/100.hea --signal 0',
      '  vitalgate ecg rpeaks ../shared/data/physionet/v102s.hea --signal 1 --from 30 --seconds 20 --json',
    ].join('\n'))
    .action(async (hea: string, o: { signal: number; from: number; seconds?: number; json?: boolean }) => {
      const { rec, fs, description, name } = await openSignal(hea, o.signal);
      const all = rec.physical(o.signal);
      const start = Math.round(o.from * fs);
      if (start >= all.length) invalid(`--from ${o.from} is past the end of the record (${(all.length / fs).toFixed(3)} s)`);
      const end = o.seconds === undefined ? all.length : Math.min(all.length, start + Math.max(1, Math.round(o.seconds * fs)));
      const peaks = detectRPeaks(all.subarray(start, end), fs).map((p) => p + start);
      if (o.json) {
        process.stdout.write(JSON.stringify({ record: name, signal: o.signal, description, fs, start, samples: end - start, count: peaks.length, peaks }) + '\n');
        return;
      }
      const seconds = (end - start) / fs;
      const bpm = seconds > 0 ? (60 * peaks.length) / seconds : 0;
      let out = `${name} signal ${o.signal} (${description}), ${fs} Hz, samples ${start}-${end - 1} (${seconds.toFixed(1)} s): ${peaks.length} R peaks, ${bpm.toFixed(0)} /min\n`;
      for (const p of peaks) out += `${p}\t${(p / fs).toFixed(3)}\n`;
      process.stdout.write(out);
    });

  ecg
    .command('score <record.hea>')
    .description('detect the R peaks of one ECG signal and score them against a beat-annotation file (Se, +P)')
    .requiredOption('--signal <i>', 'signal number in the header (0 = first)', signalIndex)
    .requiredOption('--annotations <file.atr>', 'MIT-format annotation file of the same record (e.g. 100.atr)')
    .option('--window-ms <ms>', 'largest distance between a detection and the beat it matches', positiveNumber('--window-ms'), 150)
    .option('--json', 'print {record, signal, description, fs, windowMs, reference, detected, truePositives, falsePositives, falseNegatives, sensitivity, positivePredictivity}')
    .addHelpText('after', [
      '',
      'Only beat annotations count as reference (N, L, R, V, A, … as WFDB\'s isqrs; rhythm changes,',
      'noise and comments do not). Each beat matches at most one detection and each detection at most',
      'one beat (ANSI/AAMI EC57 style). Se = TP / (TP + FN), +P = TP / (TP + FP).',
      'A record or annotation file that cannot be read exits 1; a signal the record does not have exits 2.',
      '',
      'Example:',
      '  vitalgate ecg score ../shared/data/physionet/100.hea --signal 0 --annotations ../shared/data/physionet/100.atr --json',
    ].join('\n'))
    .action(async (hea: string, o: { signal: number; annotations: string; windowMs: number; json?: boolean }) => {
      const { rec, fs, description, name } = await openSignal(hea, o.signal);
      let annotations: Awaited<ReturnType<typeof readWfdbAnnotations>>;
      try {
        annotations = await readWfdbAnnotations(o.annotations);
      } catch (e) {
        unreadable(e);
      }
      // Annotation times count frames; a signal with several samples per frame has that many per frame.
      const perFrame = rec.header.signals[o.signal]!.samplesPerFrame;
      const reference = annotations.filter((a) => isBeatAnnotation(a.code)).map((a) => a.sample * perFrame);
      const detected = detectRPeaks(rec.physical(o.signal), fs);
      const s = scoreBeats(detected, reference, fs, o.windowMs / 1000);
      if (o.json) {
        process.stdout.write(JSON.stringify({ record: name, signal: o.signal, description, fs, windowMs: o.windowMs, reference: reference.length, detected: detected.length, ...s }) + '\n');
        return;
      }
      process.stdout.write(
        `${name} signal ${o.signal} (${description}), ${fs} Hz: ${reference.length} annotated beats, ${detected.length} detected\n` +
          `  Se ${pct(s.sensitivity)}  +P ${pct(s.positivePredictivity)}  (TP ${s.truePositives}, FP ${s.falsePositives}, FN ${s.falseNegatives}; window ${o.windowMs} ms)\n`,
      );
    });
}
