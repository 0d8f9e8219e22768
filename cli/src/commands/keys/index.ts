/**
 * `vitalgate keys …`: the patient master secret's heartbeat-locked backup (docs/key-backup.md), and
 * moving a keystore to a new passphrase. Each subcommand is a file of this folder: evaluate, rekey,
 * backup, recover.
 */
import type { Command } from 'commander';
import { registerBackup } from './backup.js';
import { registerEvaluate } from './evaluate.js';
import { registerRecover } from './recover.js';
import { registerRekey } from './rekey.js';

export function registerKeys(program: Command): void {
  const keys = program
    .command('keys')
    .description('patient master secrets: heartbeat-locked backup (fuzzy vault of inter-pulse intervals), and moving a keystore to a new passphrase')
    .addHelpText('after', [
      '',
      'A patient master secret (PMS, 32 bytes) is never stored in a backup: it is locked in a',
      'Juels–Sudan fuzzy vault over GF(2^16) whose unlocking set is the inter-pulse intervals (IPIs)',
      'one sensor saw during a time window; another sensor on the same body over the same window',
      'opens it again. See docs/key-backup.md.',
      '',
      'Example:',
      '  vitalgate keys evaluate ../shared/data/physionet/100.hea ../shared/data/physionet/v102s.hea ../shared/data/physionet/test01_00s.hea',
    ].join('\n'));

  registerEvaluate(keys);
  registerRekey(keys);
  registerBackup(keys);
  registerRecover(keys);
}
