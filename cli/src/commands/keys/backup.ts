/**
 * `vitalgate keys backup`: lock a patient's master secret in a fuzzy vault of their own heartbeats
 * (@vitalgate/key-backup; docs/operations.md, "Key backup and recovery").
 *
 * Beats come from a WFDB record (one ECG lead or PLETH signal) or from a live MQTT waveform stream
 * of the patient (ECG by default), whose readings' timestamps put the beats on the wall clock.
 *
 * An optional recovery code (--recovery-code, --recovery-code-file) makes the backup need that code
 * as well as the heartbeats. The code only ever travels through stdout once at backup and through a
 * file (or stdin) at recovery: never a command-line value, which `ps` and shell history would show.
 */
import type { Command } from 'commander';
import type { Keystore } from '@vitalgate/edge-gateway';
import { dataDirLayout } from '@vitalgate/edge-gateway';
import {
  DEFAULT_MIN_GUESS_BITS, DEFAULT_WINDOW_SECONDS, LIVE_WARMUP_SECONDS, backupPatientSecret, captureLiveWindow, captureRecordWindow, defaultBackupPath,
  formatBackupWindow, generateRecoveryCode, isLiveSource, writeBackupFile, type BackupResult, type CapturedWindow, type RecoveryCodeFormat,
} from '@vitalgate/key-backup';
import { assertValidId } from '@vitalgate/protocol';
import { DEFAULT_DATA_DIR, nonNegativeNumber, positiveNumber } from '../../options.js';
import { ALLOW_DEMO_OPTION, keystorePassphrase } from '../../passphrase.js';
import { StatusLine } from '../../status-line.js';
import { BACKUP_HELP } from './help.js';
import { UserError, fail, openExistingKeystore, parseTime, readRecoveryCodeFile, streamName, suppliedCodeFormat } from './shared.js';

interface BackupOpts {
  dataDir: string; patient: string; from: string; signal?: string; stream: 'ecg' | 'ppg'; device?: string; start?: number; windowSeconds: number;
  recordStart?: number; out?: string; force?: boolean; passphraseFile?: string; allowDemoPassphrase?: boolean; username?: string; timeout: number;
  minGuessBits: number; recoveryCode?: boolean; recoveryCodeFile?: string; json?: boolean; quiet?: boolean;
}

type RecoveryCode = { code: string; format: RecoveryCodeFormat; generated: boolean };

function recoveryCodeOf(o: BackupOpts): RecoveryCode | undefined {
  if (o.recoveryCode && o.recoveryCodeFile !== undefined) throw new UserError('give --recovery-code (generate one) or --recovery-code-file (use yours), not both');
  if (o.recoveryCode) return { code: generateRecoveryCode(), format: 'generated', generated: true };
  if (o.recoveryCodeFile === undefined) return undefined;
  const code = readRecoveryCodeFile(o.recoveryCodeFile);
  return { code, format: suppliedCodeFormat(code), generated: false };
}

function printBackup(o: BackupOpts, out: string, c: CapturedWindow, r: BackupResult, recoveryCode: RecoveryCode | undefined): void {
  const { window, timeBase, source } = c;
  const summary = {
    path: out, patientId: o.patient, timeBase, window, source,
    beats: c.beats.filter((t) => t >= window.startSeconds && t < window.startSeconds + window.seconds).length,
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
    return;
  }
  process.stdout.write([
    `key backup of patient ${o.patient} written to ${out}`,
    `  window:   ${formatBackupWindow(window, timeBase)} — ${source.kind === 'live' ? 'stream' : 'record'} ${source.name}, ${source.signal}; ${summary.beats} beats, ${summary.ipisLocked} IPIs locked among ${summary.points - summary.ipisLocked} chaff points`,
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

async function backupAction(o: BackupOpts): Promise<void> {
  const status = o.quiet ? null : new StatusLine(process.stderr, 2000);
  const progress = (line: string, force?: boolean): void => status?.update(`keys backup: ${line}`, force);
  let recoveryCode: RecoveryCode | undefined;
  try {
    assertValidId('patient', o.patient);
    recoveryCode = recoveryCodeOf(o);
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
  let captured: CapturedWindow;
  try {
    captured = isLiveSource(o.from)
      ? await captureLiveWindow({
          url: o.from, patientId: o.patient, ...(o.device !== undefined ? { deviceId: o.device } : {}), stream: o.stream,
          ...(o.username !== undefined ? { username: o.username, password: process.env.VITALGATE_MQTT_PASSWORD } : {}),
          timeoutSeconds: o.timeout, ...(o.start !== undefined ? { warmupSeconds: o.start } : {}), windowSeconds: o.windowSeconds,
          onProgress: progress, onNotice: (line) => process.stderr.write(`keys backup: ${line}\n`),
        })
      : await captureRecordWindow({
          hea: o.from, ...(o.signal !== undefined ? { signal: o.signal } : {}), ...(o.start !== undefined ? { startSeconds: o.start } : {}),
          windowSeconds: o.windowSeconds, ...(o.recordStart !== undefined ? { recordStartMs: o.recordStart } : {}), onProgress: progress,
        });
  } catch (e) {
    status?.done();
    fail('backup', e);
  }
  status?.done();
  try {
    // A stream that just started may not be enrolled by the gateway yet.
    const deadline = Date.now() + (captured.source.kind === 'live' ? 15_000 : 0);
    while (!(await keystore.get(o.patient)) && Date.now() < deadline) {
      progress(`waiting for the gateway to enrol ${o.patient}`);
      await new Promise((r) => setTimeout(r, 250));
    }
    if (recoveryCode) progress('deriving a key from the recovery code (scrypt)', true);
    let r: BackupResult;
    try {
      r = await backupPatientSecret({
        keystore, patientId: o.patient, beatTimesSeconds: captured.beats, window: captured.window, timeBase: captured.timeBase, source: captured.source,
        lock: { minGuessBits: o.minGuessBits },
        ...(recoveryCode ? { recoveryCode: { code: recoveryCode.code, format: recoveryCode.format } } : {}),
      });
    } finally {
      status?.done();
    }
    const out = o.out ?? defaultBackupPath(o.dataDir, o.patient);
    await writeBackupFile(out, r.vaultJson, { force: o.force });
    printBackup(o, out, captured, r, recoveryCode);
  } catch (e) {
    fail('backup', e);
  }
}

export function registerBackup(keys: Command): void {
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
    .addHelpText('after', BACKUP_HELP)
    .action((o: BackupOpts) => backupAction(o));
}
