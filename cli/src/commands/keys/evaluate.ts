/**
 * `vitalgate keys evaluate`: unlock and false-accept rates of the fuzzy vault on WFDB records
 * (evaluateRecords of @vitalgate/key-backup), printed as a report or JSON.
 */
import type { Command } from 'commander';
import { DEFAULT_MIN_GUESS_BITS, DEFAULT_VAULT_PARAMS, DEFAULT_WINDOW_SECONDS, evaluateRecords, loadRecordBeats, type EvaluationReport, type RecordBeats } from '@vitalgate/key-backup';
import { nonNegativeInt, nonNegativeNumber, positiveInt, positiveNumber } from '../../options.js';
import { StatusLine } from '../../status-line.js';

const pct = (v: number): string => (Number.isFinite(v) ? `${(100 * v).toFixed(1)} %` : 'n/a');
const frac = (a: number, b: number): string => `${a}/${b}${b ? ` (${pct(a / b)})` : ''}`;

function printReport(r: EvaluationReport, skipped: Map<string, string[]>): string {
  const lines: string[] = [];
  const p = r.params;
  lines.push(
    `fuzzy vault: GF(2^16), degree ${p.degree} (${p.degree + 1} coefficients), comb every ${p.spacing * p.resolutionMs} ms (±${(p.spacing * p.resolutionMs) / 2} ms), ` +
      `${p.slotBits} slot + ${p.valueBits} value bits per IPI, ${r.windowSeconds} s windows every ${r.stepSeconds} s, ordinal search ±${r.maxShift}`,
  );
  for (const rec of r.records) {
    const sigs = rec.signals.map((s) => `${s.signal} ${s.kind.toUpperCase()} ${s.beats} beats`).join(', ');
    const skip = skipped.get(rec.record)?.length ? `; not pulse-bearing: ${skipped.get(rec.record)!.join(', ')}` : '';
    lines.push(`  ${rec.record} (${rec.durationSeconds.toFixed(0)} s): ${sigs}${skip}`);
    const refused = rec.tooFewFeatures + rec.weakFeatures;
    lines.push(
      `    ${rec.windows} windows, ${rec.vaults} vaults` +
        (refused ? ` (refused: ${rec.weakFeatures} too little HRV for the tolerance, ${rec.tooFewFeatures} too few IPIs)` : '') +
        `, genuine ${frac(rec.genuineUnlocks, rec.genuineTrials)}` +
        (rec.note ? ` — ${rec.note}` : ''),
    );
  }
  lines.push('');
  lines.push(`genuine        ${frac(r.genuineUnlocks, r.genuineTrials)} unlocked, FRR ${pct(r.frr)}`);
  lines.push(`  lead-to-lead ${frac(r.leadUnlocks, r.leadTrials)}`);
  lines.push(`  ECG → PPG    ${frac(r.ecgToPpgUnlocks, r.ecgToPpgTrials)} per window; within ${r.recoveryWindows} windows ${frac(r.ppgRecovered, r.ppgRecoveryCases)}`);
  lines.push(`  PPG → ECG    ${frac(r.ppgToEcgUnlocks, r.ppgToEcgTrials)}`);
  lines.push(`impostor       ${frac(r.impostorUnlocks, r.impostorTrials)} unlocked, FAR ${pct(r.far)}`);
  lines.push(`same body, other window  ${frac(r.staleUnlocks, r.staleTrials)} unlocked`);
  lines.push(`"no HRV" guess           ${frac(r.flatGuessUnlocks, r.flatGuessTrials)} unlocked`);
  lines.push(`unlock time    p50 ${r.unlockMsP50} ms, p99 ${r.unlockMsP99} ms, max ${r.unlockMsMax} ms`);
  lines.push(
    `security       ${r.securityBits} bits brute force (median vault; min ${r.securityBitsMin}; Juels–Sudan formula ${r.bruteForceBits}); ` +
      `~${r.entropyBits} bits against a guesser who knows residuals cluster at 0 (genuine = nearest-to-0 tooth in ${pct(r.zeroToothRate)} of IPIs)`,
  );
  if (r.agreement.length) {
    lines.push('sensor agreement (|ΔIPI| between two signals of one record, median / p95):');
    for (const a of r.agreement) lines.push(`  ${a.record} ${a.a}–${a.b} (${a.kind}, lag ${a.lagMs} ms): ${a.medianAbsMs} / ${a.p95AbsMs} ms over ${a.pairedBeats} beats`);
  }
  lines.push(`(${r.elapsedSeconds} s)`);
  return lines.join('\n') + '\n';
}

export function registerEvaluate(keys: Command): void {
  keys
    .command('evaluate <record.hea...>')
    .description('measure unlock and false-accept rates of the vault on WFDB records (every ECG lead and PPG signal)')
    .option('--window-seconds <s>', 'length of a vault window', positiveNumber('--window-seconds'), DEFAULT_WINDOW_SECONDS)
    .option('--step-seconds <s>', 'distance between window starts (default: the window length)', positiveNumber('--step-seconds'))
    .option('--degree <k>', 'polynomial degree; at least 16 for a 32-byte secret', positiveInt('--degree'), DEFAULT_VAULT_PARAMS.degree)
    .option('--spacing-ms <ms>', 'comb spacing: IPIs match within ± half of it', positiveInt('--spacing-ms'), DEFAULT_VAULT_PARAMS.spacing * DEFAULT_VAULT_PARAMS.resolutionMs)
    .option('--max-shift <n>', 'ordinal offsets the decoder tries between the two sensors', nonNegativeInt('--max-shift'), 2)
    .option('--min-guess-bits <b>', 'refuse to lock windows a "no HRV" guess opens in fewer than 2^b tries (0 = never refuse)', nonNegativeNumber('--min-guess-bits'), DEFAULT_MIN_GUESS_BITS)
    .option('--impostor-trials <n>', 'impostor trials, spread evenly over all cross-record pairs', positiveInt('--impostor-trials'), 2000)
    .option('--stale-trials <n>', 'same-body, other-window trials', positiveInt('--stale-trials'), 500)
    .option('--recovery-windows <n>', 'windows an ECG → PPG recovery may try', positiveInt('--recovery-windows'), 3)
    .option('--json', 'print the whole report as one JSON object')
    .option('--quiet', 'no progress on stderr')
    .addHelpText('after', [
      '',
      'For every record, pulse-bearing signal and window one vault is locked with a fresh random',
      '32-byte secret. Genuine trials open it with each other signal of the same record over the',
      'same window (ECG lead to lead, ECG ↔ PPG); ECG → PPG recovery succeeds when the PPG opens the',
      'ECG vault of any of --recovery-windows consecutive windows. Impostor trials open it with',
      'signals of the other records; two attack checks open it with the same body at another time',
      'and with "every IPI equals the median". A wrong secret is never accepted (salted SHA-256 check).',
      '',
      'The JSON has {genuineTrials, genuineUnlocks, frr, impostorTrials, impostorUnlocks, far,',
      'unlockMsP50, unlockMsP99, securityBits} and the details: leadTrials/leadUnlocks,',
      'ecgToPpg…, ppgRecoveryCases/ppgRecovered, staleTrials/staleUnlocks, flatGuess…, entropyBits,',
      'per-record summaries, sensor agreement, parameters. Progress goes to stderr.',
      'A record that cannot be read exits 1.',
      '',
      'Examples:',
      '  vitalgate keys evaluate ../shared/data/physionet/100.hea ../shared/data/physionet/v102s.hea ../shared/data/physionet/test01_00s.hea',
      '  vitalgate keys evaluate ../shared/data/physionet/*.hea --window-seconds 30 --degree 16 --json',
      '  vitalgate keys evaluate ../shared/data/physionet/v102s.hea ../shared/data/physionet/100.hea --spacing-ms 32 --min-guess-bits 0',
    ].join('\n'))
    .action(
      async (
        heas: string[],
        o: {
          windowSeconds: number;
          stepSeconds?: number;
          degree: number;
          spacingMs: number;
          maxShift: number;
          minGuessBits: number;
          impostorTrials: number;
          staleTrials: number;
          recoveryWindows: number;
          json?: boolean;
          quiet?: boolean;
        },
      ) => {
        const status = o.quiet ? null : new StatusLine(process.stderr, 2000);
        const records: RecordBeats[] = [];
        const skipped = new Map<string, string[]>();
        for (const hea of heas) {
          status?.update(`keys evaluate: detecting beats in ${hea}`, true);
          try {
            const { beats, skipped: skip } = await loadRecordBeats(hea);
            records.push(beats);
            skipped.set(beats.record, skip);
          } catch (e) {
            status?.done();
            process.stderr.write(`vitalgate keys evaluate: ${(e as Error).message}\n`);
            process.exit(1);
          }
        }
        const resolution = DEFAULT_VAULT_PARAMS.resolutionMs;
        let report: EvaluationReport;
        try {
          report = evaluateRecords(records, {
            windowSeconds: o.windowSeconds,
            ...(o.stepSeconds !== undefined ? { stepSeconds: o.stepSeconds } : {}),
            params: { degree: o.degree, spacing: Math.max(2, Math.round(o.spacingMs / resolution)) },
            unlock: { maxShift: o.maxShift },
            minGuessBits: o.minGuessBits,
            maxImpostorTrials: o.impostorTrials,
            maxStaleTrials: o.staleTrials,
            recoveryWindows: o.recoveryWindows,
            onProgress: (done, total, phase) => status?.update(`keys evaluate: ${phase} ${done}/${total}`),
          });
        } catch (e) {
          status?.done();
          process.stderr.write(`vitalgate keys evaluate: ${(e as Error).message}\n`);
          process.exit(2);
        }
        status?.done();
        process.stdout.write(o.json ? JSON.stringify(report) + '\n' : printReport(report, skipped));
      },
    );
}
