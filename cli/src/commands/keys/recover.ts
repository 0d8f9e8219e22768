/**
 * `vitalgate keys recover`: measure the backup window again (a record or a live stream) until it
 * unlocks the vault, and seal the secret into a keystore (@vitalgate/key-backup; docs/operations.md,
 * "Key backup and recovery").
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { DataDirLock, Keystore, dataDirLayout } from '@vitalgate/edge-gateway';
import {
  RecoveryCodeError, SourceError, backupMatchesSecret, backupNeedsRecoveryCode, formatBackupWindow, isLiveSource, liveRecoveryWindows,
  neighbourWindows, openRecoveredSecret, readBackupFile, recordRecoveryPlan, recoverPatientSecret, recoveryCodeKey, restoreIntoKeystore,
  vaultMatchesSecret, type PatientBackup, type RecoveryAttempt, type RecoveryResult,
} from '@vitalgate/key-backup';
import { DEFAULT_DATA_DIR, positiveInt, positiveNumber } from '../../options.js';
import { ALLOW_DEMO_OPTION, keystorePassphrase } from '../../passphrase.js';
import { StatusLine } from '../../status-line.js';
import { RECOVERY_CODE_ENV, UserError, fail, parseTime, readRecoveryCodeFile, streamName } from './shared.js';
import { RECOVER_HELP } from './help.js';

const DEFAULT_STEP_SECONDS = 1.5;
const DEFAULT_MAX_WINDOWS = 25;

interface RecoverOpts {
  vault: string; dataDir: string; from: string; signal?: string; stream: 'ecg' | 'ppg'; device?: string; recordStart?: number;
  maxWindows: number; stepSeconds: number; passphraseFile?: string; recoveryCodeFile?: string; allowDemoPassphrase?: boolean;
  username?: string; timeout: number; json?: boolean; quiet?: boolean;
}

async function recoverAction(o: RecoverOpts): Promise<void> {
  const status = o.quiet ? null : new StatusLine(process.stderr, 2000);
  const progress = (line: string, force?: boolean): void => status?.update(`keys recover: ${line}`, force);
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
      progress('deriving the key from the recovery code (scrypt)', true);
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
  const onAttempt = (a: RecoveryAttempt, i: number): void =>
    progress(`window ${i + 1}/${o.maxWindows} ${a.label ?? ''} ${formatBackupWindow(a.window, backup.timeBase)}: ${a.beats} beats, ${a.unlocked ? 'UNLOCKED' : 'no'} (${a.ms} ms)`, true);
  let result: RecoveryResult;
  let coverage = '';
  const started = performance.now();
  try {
    if (isLiveSource(o.from)) {
      const live = await liveRecoveryWindows({
        url: o.from, patientId: backup.patientId, ...(o.device !== undefined ? { deviceId: o.device } : {}), stream: o.stream,
        ...(o.username !== undefined ? { username: o.username, password: process.env.VITALGATE_MQTT_PASSWORD } : {}),
        timeoutSeconds: o.timeout, backup, candidates, ...(o.recordStart !== undefined ? { recordStartMs: o.recordStart } : {}),
        onProgress: progress, onNotice: (line) => process.stderr.write(`keys recover: ${line}\n`),
      });
      try {
        result = await recoverPatientSecret({ vault: backup.vault, windows: live.next, maxWindows: o.maxWindows, onAttempt });
      } finally {
        coverage = live.coverage();
        await live.close();
      }
    } else {
      const r = await recordRecoveryPlan({
        hea: o.from, ...(o.signal !== undefined ? { signal: o.signal } : {}), backup, candidates,
        ...(o.recordStart !== undefined ? { recordStartMs: o.recordStart } : {}), onProgress: progress,
      });
      coverage = r.coverage;
      result = await recoverPatientSecret({ vault: backup.vault, windows: r.plan, maxWindows: o.maxWindows, onAttempt });
    }
  } catch (e) {
    status?.done();
    fail('recover', e, e instanceof UserError || e instanceof SourceError ? 2 : 1);
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
      ? `not recovered after ${n} window${n === 1 ? '' : 's'}: wrong recovery code or heartbeats do not match (the code must be the one printed at backup, and the recording must overlap the backup window ${formatBackupWindow(backup.window, backup.timeBase)} and come from the same body)`
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
        `(unlocked by ${result.label ?? 'the stream'} over ${formatBackupWindow(result.window, backup.timeBase)}, ${unlock.ms} ms; ${totalMs} ms in all)`,
      written
        ? `  sealed into ${existed ? 'the keystore' : 'a new keystore'} at ${keysDir}; \`vitalgate open --data-dir ${o.dataDir}\` reads the patient's data again`
        : `  the keystore at ${keysDir} already held this same secret: nothing changed`,
      '',
    ].join('\n'));
  }
}

export function registerRecover(keys: Command): void {
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
    .addHelpText('after', RECOVER_HELP)
    .action((o: RecoverOpts) => recoverAction(o));
}
