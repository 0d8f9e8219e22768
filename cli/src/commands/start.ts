import { redactUrl } from '@vitalgate/protocol';
import type { Command } from 'commander';
import { DEFAULT_DATA_DIR, port, positiveInt, positiveNumber } from '../options.js';
import { startPipeline, type Pipeline } from '../pipeline.js';
import { StatusLine } from '../status-line.js';

export function registerStart(program: Command): void {
  program
    .command('start')
    .description('the whole pipeline on embedded defaults (what `npm start` runs): broker, gateway, 10 simulated devices, live figures until Ctrl-C')
    .option('-n, --devices <n>', 'simulated devices', positiveInt('--devices'), 10)
    .option('-d, --duration <seconds>', 'stop by itself after this many seconds (default: run until Ctrl-C)', positiveNumber('--duration'))
    .option('--data-dir <dir>', 'gateway data directory', DEFAULT_DATA_DIR)
    .option('--passphrase-file <file>', 'file holding the gateway passphrase (or set VITALGATE_PASSPHRASE_FILE)')
    .option('--mqtt-port <port>', 'broker port (a free one is used if it is taken)', port, 1883)
    .option('--epoch-minutes <m>', 'epoch key rotation period', positiveNumber('--epoch-minutes'), 15)
    .addHelpText('after', '\nKeys while running on a terminal: r = rotate the epoch now, q = quit.\nBounded run (CI): npm start -- --duration 15')
    .action(async (o: { devices: number; duration?: number; dataDir: string; passphraseFile?: string; mqttPort: number; epochMinutes: number }) => {
      const status = new StatusLine(process.stderr, 2000);
      const base = { devices: o.devices, durationS: o.duration ?? Infinity, dataDir: o.dataDir, passphraseFile: o.passphraseFile, epochMinutes: o.epochMinutes, demoClinician: true };
      const progress = (n: number) => status.update(`connecting devices ${n}/${o.devices}`, n === o.devices);
      let p: Pipeline;
      try {
        p = await startPipeline({ ...base, mqttPort: o.mqttPort }, progress);
      } catch (e) {
        if (!/already in use/.test((e as Error).message)) throw e;
        process.stderr.write(`port ${o.mqttPort} is taken; using a free port instead\n`);
        p = await startPipeline({ ...base, mqttPort: 0 }, progress);
      }
      process.stderr.write([
        `vitalgate: broker ${redactUrl(p.broker.url)}  ·  chain ${p.chain ? redactUrl(p.chain.url) : 'off'}  ·  data ${o.dataDir}  ·  ${o.devices} simulated devices (mixed profile)`,
        `watch the raw (plaintext) device traffic: npx mqtt sub -h 127.0.0.1 -p ${p.broker.port} -t 'vg/v1/#' -v`,
        ...(p.demo ? [`dashboard: open ${p.demo.signInUrl}`, `  (signs in the demo clinician ${p.demo.address}, granted every simulated patient; its key is in the link's #fragment, which the browser never sends)`] : []),
        ...(p.ingest && p.chain ? [`care teams: ingest ${p.ingest.url} (vitalgate fetch --ingest ${p.ingest.url} …; meanwhile chain commands take --chain-url ${redactUrl(p.chain.url)}; docs/access.md)`] : []),
        `${o.duration ? `stopping after ${o.duration}s` : 'Ctrl-C to stop'}; then: vitalgate open --data-dir ${o.dataDir}  ·  vitalgate verify --data-dir ${o.dataDir}`,
        '',
      ].join('\n'));
      let lastSealed = 0;
      let lastAt = Date.now();
      const ticker = setInterval(() => {
        const g = p.gateway.metrics();
        const now = Date.now();
        const rate = ((g.readingsSealed - lastSealed) * 1000) / (now - lastAt);
        lastSealed = g.readingsSealed;
        lastAt = now;
        const rotatesIn = Math.max(0, Math.ceil((Math.floor(now / (o.epochMinutes * 60_000)) + 1) * o.epochMinutes * 60_000 - now) / 1000);
        const mmss = `${Math.floor(rotatesIn / 60)}:${String(Math.floor(rotatesIn % 60)).padStart(2, '0')}`;
        const anchored = g.anchoring ? `  anchored ${g.anchoring.anchoredBatches}${g.anchoring.lastError ? ' (chain unreachable, retrying)' : ''}` : '';
        const uploaded = g.upload ? `  uploaded ${g.upload.uploaded}${g.upload.waiting ? ` (${g.upload.waiting} waiting${g.upload.lastError ? ', ingest unreachable, retrying' : ''})` : ''}` : '';
        status.update(`readings/s ${rate.toFixed(1).padStart(6)}  sealed ${g.readingsSealed}  batches ${g.batchesSealed}${anchored}${uploaded}  pending ${g.pendingReadings}  rejected ${g.rejected}  epoch ${g.epoch} (next in ${mmss})`);
      }, 1000);
      const stop = () => void p.sim.stop();
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
      if (process.stdin.isTTY) {
        process.stdin.setRawMode(true);
        process.stdin.resume();
        process.stdin.on('data', (d) => {
          const k = d.toString();
          if (k === 'q' || k === '\u0003') stop();
          if (k === 'r') void p.gateway.rotateEpoch().then((e) => status.update(`epoch rotated on demand → ${e.epoch}`, true));
        });
      }
      await p.sim.run();
      clearInterval(ticker);
      status.done();
      if (process.stdin.isTTY) {
        process.stdin.setRawMode(false);
        process.stdin.pause();
      }
      process.stderr.write('stopping: sealing the last batches, anchoring and uploading them…\n');
      const s = p.sim.stats();
      const closing = setInterval(() => {
        const u = p.gateway.metrics().upload;
        if (u?.waiting) process.stderr.write(`  uploading: ${u.waiting} batches left${u.lastError ? ` (${u.lastError})` : ''}\n`);
      }, 2000);
      await p.shutdown().finally(() => clearInterval(closing));
      const g = p.gateway.metrics();
      process.stderr.write(`sent ${s.published}, sealed ${g.readingsSealed} readings in ${g.batchesSealed} batches, rejected ${g.rejected}, epoch ${g.epoch}`
        + `${g.upload ? `, uploaded ${g.upload.uploaded} batches to the embedded ingest (${g.upload.waiting} waiting)` : ''}\n`);
      if (g.readingsSealed !== s.acked) {
        process.stderr.write(`MISMATCH: ${s.acked} acknowledged but ${g.readingsSealed} sealed\n`);
        process.exitCode = 1;
      }
    });
}
