/**
 * The server side of the dashboard history benchmark (dashboard-history.ts), in its own process:
 * the pipeline (chain, ingest, broker, gateway) seeded with the two patients' history, then serving
 * until SIGTERM or SIGINT. Progress on stderr; one JSON line on stdout once ready:
 * {"event":"ready","signInUrl","accounts":{"ecg","vitals"},"seed":{…}}.
 *
 *   node history-server.js DIR EPOCH_MINUTES [PASSPHRASE_FILE]
 */
import { seedHistory } from './dashboard-history.js';

const [dir, epochMinutes, passphraseFile] = process.argv.slice(2);
if (!dir || !epochMinutes) {
  process.stderr.write('usage: history-server.js DIR EPOCH_MINUTES [PASSPHRASE_FILE]\n');
  process.exit(2);
}
const s = await seedHistory({ dir, epochMinutes: Number(epochMinutes), ...(passphraseFile && { passphraseFile }), log: (m) => process.stderr.write(`${m}\n`) });
process.stdout.write(`${JSON.stringify({ event: 'ready', signInUrl: s.signInUrl, accounts: s.accounts, seed: s.seed })}\n`);
let stopping = false;
const stop = () => {
  if (stopping) return;
  stopping = true;
  void s.stop().then(() => process.exit(0), (e: Error) => {
    process.stderr.write(`history: could not stop cleanly: ${e.message}\n`);
    process.exit(1);
  });
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
