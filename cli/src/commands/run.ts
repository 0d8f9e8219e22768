import type { Command } from 'commander';
import { DEFAULT_DATA_DIR, positiveInt, positiveNumber } from '../options.js';
import { startPipeline } from '../pipeline.js';
import { PROFILES } from '@vitalgate/device-sim';
import { StatusLine } from '../status-line.js';

export function registerRun(program: Command): void {
  program
    .command('run')
    .description('run broker, gateway and simulated devices together for a fixed time, seal everything, print a summary')
    .option('-n, --devices <n>', 'simulated devices', positiveInt('--devices'), 10)
    .option('-d, --duration <seconds>', 'seconds of signal each device sends', positiveNumber('--duration'), 10)
    .option('--data-dir <dir>', 'gateway data directory (keys, sealed batches, index)', DEFAULT_DATA_DIR)
    .option('--passphrase-file <file>', 'file holding the gateway passphrase (or set VITALGATE_PASSPHRASE_FILE)')
    .option('--profile <name>', `device profile: ${Object.keys(PROFILES).join(', ')}`, 'mixed')
    .option('--encoding <enc>', 'payload encoding: json, cbor or mixed', 'cbor')
    .option('--batch-window-ms <ms>', 'close a batch this long after its first reading', positiveInt('--batch-window-ms'), 2000)
    .option('--epoch-minutes <m>', 'epoch key rotation period', positiveNumber('--epoch-minutes'), 15)
    .option('--no-chain', 'do not anchor on the embedded anvil chain')
    .option('--anchor-seconds <s>', 'anchor a Merkle root of new batches this often', positiveNumber('--anchor-seconds'), 30)
    .option('--sent-log <file>', 'write every reading the broker acknowledged as JSON lines (for reconciliation)')
    .option('--json', 'print the summary as JSON on stdout')
    .option('--verbose', 'log gateway activity (info level) to stderr')
    .addHelpText('after', '\nExample:\n  vitalgate run --devices 50 --duration 10 --data-dir /tmp/vg && vitalgate open --data-dir /tmp/vg --json | wc -l')
    .action(async (o: {
      devices: number; duration: number; dataDir: string; passphraseFile?: string; profile: string; encoding: 'json' | 'cbor' | 'mixed';
      batchWindowMs: number; epochMinutes: number; sentLog?: string; json?: boolean; verbose?: boolean; chain: boolean; anchorSeconds: number;
    }) => {
      if (!['json', 'cbor', 'mixed'].includes(o.encoding)) throw new Error('--encoding must be json, cbor or mixed');
      const status = new StatusLine();
      const t0 = Date.now();
      const p = await startPipeline({
        devices: o.devices, durationS: o.duration, dataDir: o.dataDir, passphraseFile: o.passphraseFile, profile: o.profile,
        encoding: o.encoding, batchWindowMs: o.batchWindowMs, epochMinutes: o.epochMinutes, sentLog: o.sentLog,
        logLevel: o.verbose ? 'info' : 'warn', chain: o.chain, anchorSeconds: o.anchorSeconds,
      }, (n) => status.update(`connecting devices ${n}/${o.devices}`, n === o.devices));
      const ticker = setInterval(() => {
        const s = p.sim.stats();
        const g = p.gateway.metrics();
        const pct = Math.min(100, (100 * s.elapsedS) / o.duration).toFixed(0);
        status.update(`${pct}%  ${s.elapsedS.toFixed(0)}/${o.duration}s  sent ${s.published}  sealed ${g.readingsSealed} in ${g.batchesSealed} batches  rejected ${g.rejected}  epoch ${g.epoch}`);
      }, 500);
      const interrupt = () => void p.sim.stop();
      process.once('SIGINT', interrupt);
      process.once('SIGTERM', interrupt);
      await p.sim.run();
      clearInterval(ticker);
      status.update('flushing: sealing the last batches…', true);
      const s = p.sim.stats();
      // Shutting down seals the rest, anchors it and uploads it: say how much is left.
      const closing = setInterval(() => {
        const u = p.gateway.metrics().upload;
        if (u?.waiting) status.update(`flushing: uploading to the embedded ingest, ${u.waiting} batches left${u.lastError ? ` (${u.lastError})` : ''}…`);
      }, 1000);
      await p.shutdown().finally(() => clearInterval(closing));
      status.done();
      process.off('SIGINT', interrupt);
      process.off('SIGTERM', interrupt);
      const g = p.gateway.metrics();
      const summary = {
        devices: o.devices, durationS: o.duration, profile: o.profile, dataDir: o.dataDir,
        published: s.published, acked: s.acked, failed: s.failed,
        received: g.messagesReceived, accepted: g.readingsAccepted, duplicates: g.duplicates, rejected: g.rejected,
        sealedReadings: g.readingsSealed, batches: g.batchesSealed, summaryBatches: g.summariesSealed, bytesStored: g.bytesStored,
        epoch: g.epoch, patientsEnrolled: g.patientsEnrolled, wallS: (Date.now() - t0) / 1000,
        anchors: g.anchoring?.anchors ?? 0, anchoredBatches: g.anchoring?.anchoredBatches ?? 0, unanchoredBatches: g.anchoring?.unanchoredBatches ?? 0,
        uploadedBatches: g.upload?.uploaded ?? 0, uploadWaiting: g.upload?.waiting ?? 0,
      };
      const reconciled = s.failed === 0 && g.readingsSealed === s.acked && g.rejected === 0;
      if (o.json) {
        process.stdout.write(JSON.stringify({ ...summary, reconciled }) + '\n');
      } else {
        process.stdout.write([
          `devices ${summary.devices} × ${summary.durationS}s (${summary.profile})`,
          `sent      ${summary.published} readings, ${summary.acked} acknowledged by the broker, ${summary.failed} failed`,
          `gateway   ${summary.accepted} accepted, ${summary.duplicates} duplicates dropped, ${summary.rejected} rejected`,
          `sealed    ${summary.sealedReadings} readings in ${summary.batches} batches, and ${summary.summaryBatches} summaries (${(summary.bytesStored / 1024).toFixed(1)} KiB) under epoch ${summary.epoch}`,
          g.anchoring ? `anchored  ${summary.anchoredBatches} batches under ${summary.anchors} Merkle roots on the embedded chain (${summary.unanchoredBatches} waiting)` : 'anchored  (no chain)',
          g.upload ? `uploaded  ${summary.uploadedBatches} batches and summaries to the embedded ingest (${summary.uploadWaiting} waiting; ciphertext in ${summary.dataDir}/cloud)` : 'uploaded  (no chain, no ingest)',
          `data dir  ${summary.dataDir}   (read it back: vitalgate open --data-dir ${summary.dataDir}; prove it: vitalgate verify --data-dir ${summary.dataDir})`,
          reconciled ? 'every acknowledged reading is sealed' : 'MISMATCH: not every acknowledged reading was sealed',
        ].join('\n') + '\n');
      }
      if (!reconciled) process.exitCode = 1;
    });
}
