/**
 * `vitalgate keys rekey`: move the keystore of a data directory to a new passphrase.
 */
import type { Command } from 'commander';
import { Keystore, WrongPassphraseError, dataDirLayout, rekeyKeystore } from '@vitalgate/edge-gateway';
import { DEFAULT_DATA_DIR } from '../../options.js';
import { DEMO_PASSPHRASE, PASSPHRASE_FILE_ENV, readPassphraseFile } from '../../passphrase.js';

export function registerRekey(keys: Command): void {
  keys
    .command('rekey')
    .description('move the keystore of a data directory to a new passphrase (every secret re-sealed; atomic)')
    .requiredOption('--new-passphrase-file <file>', 'file holding the new passphrase (at least 8 characters; not the demo one)')
    .option('--data-dir <dir>', 'gateway data directory', DEFAULT_DATA_DIR)
    .option('--passphrase-file <file>', `file holding the current passphrase (or set ${PASSPHRASE_FILE_ENV}); without either, the demo passphrase of a keystore made by \`start\`/\`run\``)
    .addHelpText('after', [
      '',
      'Every patient master secret and every named secret (chain keys) is opened with the current',
      'passphrase and sealed again under a key derived from the new one with a new salt. The new',
      'keystore is written whole beside the old one and switched in at one commit point: a crash at any',
      'moment leaves the old keystore or the new one, and the next command that opens the keystore',
      'finishes or discards the switch. Stop the gateway first: the data directory\'s lock is taken, and',
      'a running gateway makes this exit 2. Afterwards only the new passphrase opens the keystore.',
      '',
      'Example (a keystore made by `vitalgate start`, which used the public demo passphrase):',
      "  printf '%s\\n' 'a long passphrase' > ~/.vitalgate-pass && chmod 600 ~/.vitalgate-pass",
      '  vitalgate keys rekey --data-dir ./vitalgate-data --new-passphrase-file ~/.vitalgate-pass',
    ].join('\n'))
    .action(async (o: { dataDir: string; passphraseFile?: string; newPassphraseFile: string }) => {
      const keysDir = dataDirLayout(o.dataDir).keys;
      const fail = (msg: string): never => {
        process.stderr.write(`vitalgate keys rekey: ${msg}\n`);
        process.exit(2);
      };
      try {
        const { exists, demo } = await Keystore.inspect(keysDir);
        if (!exists) fail(`no keystore at ${keysDir}: is --data-dir the gateway's data directory?`);
        // The demo passphrase is public, so reading it here needs no flag: rekey is the way out of it.
        const oldFile = o.passphraseFile ?? (process.env[PASSPHRASE_FILE_ENV] || undefined);
        const oldPassphrase = oldFile ? readPassphraseFile(oldFile) : DEMO_PASSPHRASE;
        const newPassphrase = readPassphraseFile(o.newPassphraseFile);
        if (newPassphrase === DEMO_PASSPHRASE) fail(`${o.newPassphraseFile} holds the public demo passphrase; write a secret one`);
        let r;
        try {
          r = await rekeyKeystore(keysDir, oldPassphrase, newPassphrase);
        } catch (e) {
          if (e instanceof WrongPassphraseError && !oldFile) {
            fail(`the keystore in ${keysDir} is not under the demo passphrase${demo ? ' (although marked demo)' : ''}: give its passphrase with --passphrase-file FILE or ${PASSPHRASE_FILE_ENV}`);
          }
          throw e;
        }
        process.stdout.write(`keystore in ${keysDir} re-sealed under the passphrase in ${o.newPassphraseFile}: ${r.patients} patient secret(s), ${r.secrets} other secret(s); the old passphrase no longer opens it\n`);
      } catch (e) {
        fail((e as Error).message);
      }
    });
}
