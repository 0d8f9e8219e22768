import type { Command } from 'commander';
import { assertDataDir, dataDirLayout, filterOpened, isFiltering, parseBatchFilter, readIngest, readStore, type BatchFilter, type BatchFilterArgs } from '@vitalgate/edge-gateway';
import { isWaveformBody, redactUrl } from '@vitalgate/protocol';
import { DEFAULT_DATA_DIR } from '../options.js';
import { ALLOW_DEMO_OPTION, keystorePassphrase } from '../passphrase.js';
import { addFilterOptions, FILTER_HELP } from '../read-options.js';

type OpenOpts = BatchFilterArgs & { dataDir: string; passphraseFile?: string; allowDemoPassphrase?: boolean; json?: boolean; summaries?: boolean; fromIngest?: string | true };

export function registerOpen(program: Command): void {
  addFilterOptions(program
    .command('open')
    .description("decrypt every stored batch with the patients' keys and print the readings")
    .option('--data-dir <dir>', 'gateway data directory', DEFAULT_DATA_DIR)
    .option('--passphrase-file <file>', 'file holding the gateway passphrase (or set VITALGATE_PASSPHRASE_FILE)')
    .option(...ALLOW_DEMO_OPTION)
    .option('--json', 'one JSON reading per line on stdout')
    .option('--summaries', 'print the sealed per-minute and per-hour summaries instead of the readings')
    .option('--from-ingest [url]', 'read the cloud copy instead: every batch this gateway uploaded to that ingest service, fetched as the patients\' gateway (signed with its chain account) and decrypted here. Without a URL: the embedded ingest of `run`/`start` ({data-dir}/cloud), started for this command'))
    .addHelpText('after', [
      '',
      'Each JSON line: {patientId, deviceId, stream, seq, ts, rate+samples | values(+rr), batchId, epoch}.',
      'With --summaries: {patientId, deviceId, stream, kind, t, p, n, v: {name: [min, max, mean, count]},',
      's?, e?, batchId, epoch}; see docs/formats.md.',
      'A batch that fails its checks (hash, format, authentication) is reported on stderr and the',
      'command exits 1; the readings of every other batch are still printed.',
      '',
      'With --from-ingest, the keys still come from <data-dir>: the cloud holds only ciphertext, and the',
      'filters apply to what it returns.',
      FILTER_HELP,
      '',
      'Examples:',
      '  vitalgate open --data-dir .vitalgate | head',
      '  vitalgate open --data-dir .vitalgate --patient p0001 --stream hr,spo2 --from -10m',
      '',
      'A directory with no gateway data is not created: the command says so and exits 1.',
    ].join('\n'))
    .action(async (o: OpenOpts) => {
      if (typeof o.fromIngest === 'string' && !/^https?:\/\//.test(o.fromIngest)) throw new Error(`--from-ingest ${redactUrl(o.fromIngest)}: expected an http:// or https:// URL`);
      const filter = parseBatchFilter(o);
      await assertDataDir(o.dataDir);
      // Loaded only here: the embedded cloud brings the whole ingest service with it.
      const embedded = o.fromIngest === true ? await (await import('../cloud/embedded-ingest.js')).startEmbeddedCloud(o.dataDir) : undefined;
      try {
        await openAll(o, filter, embedded?.url ?? (typeof o.fromIngest === 'string' ? o.fromIngest : undefined));
      } finally {
        await embedded?.stop();
      }
    });
}

async function openAll(o: OpenOpts, filter: BatchFilter, fromIngest: string | undefined): Promise<void> {
  const { passphrase } = await keystorePassphrase({ passphraseFile: o.passphraseFile, allowDemo: o.allowDemoPassphrase, keysDir: dataDirLayout(o.dataDir).keys });
  let batches = 0;
  let readings = 0;
  let failed = 0;
  const out = process.stdout;
  const write = (s: string) => (out.write(s) ? undefined : new Promise<void>((r) => out.once('drain', () => r())));
  const only = { summaries: o.summaries === true };
  const source = !fromIngest ? readStore(o.dataDir, passphrase, { ...only, filter })
    : isFiltering(filter) ? filterOpened(readIngest(o.dataDir, passphrase, fromIngest, only), filter) : readIngest(o.dataDir, passphrase, fromIngest, only);
  let rows = 0;
  for await (const b of source) {
    batches++;
    if (!b.ok) {
      failed++;
      const where = b.header ? ` (${b.header.patientId}/${b.header.deviceId}/${b.header.stream} batch ${b.header.seq}, epoch ${b.header.epoch})` : '';
      process.stderr.write(b.id ? `batch ${b.id}${where} in pack ${b.pack} FAILED: ${b.reason}\n` : `pack ${b.pack} FAILED: ${b.reason}\n`);
      continue;
    }
    const h = b.header;
    let chunk = '';
    if (o.summaries) {
      if (h.kind === 'readings') {
        batches--;
        continue;
      }
      for (const r of b.summary ?? []) {
        rows++;
        chunk += o.json
          ? JSON.stringify({ patientId: h.patientId, deviceId: h.deviceId, stream: h.stream, kind: h.kind, ...r, batchId: b.id, epoch: h.epoch }) + '\n'
          : `${new Date(r.t).toISOString()}  ${h.patientId}  ${h.deviceId}  ${h.stream.padEnd(5)} ${r.p === 60_000 ? 'minute' : 'hour  '} n=${r.n}  ${Object.entries(r.v).map(([k, [min, max, mean]]) => `${k} ${min}..${max} mean ${Math.round(mean * 100) / 100}`).join('  ')}${r.e?.length ? `  status: ${r.e.map((e) => JSON.stringify(e)).join(' ')}` : ''}\n`;
      }
      await write(chunk);
      continue;
    }
    for (const body of b.bodies) {
      readings++;
      if (o.json) {
        chunk += JSON.stringify({ patientId: h.patientId, deviceId: h.deviceId, stream: h.stream, ...body, batchId: b.id, epoch: h.epoch }) + '\n';
      } else {
        const what = isWaveformBody(body)
          ? `${body.samples.length} samples @ ${body.rate} Hz [${body.samples.slice(0, 5).join(', ')}${body.samples.length > 5 ? ', …' : ''}]`
          : Object.entries(body.values).map(([k, v]) => `${k}=${v}`).join(' ') + ('rr' in body && body.rr?.length ? ` rr=[${body.rr.join(', ')}]` : '');
        chunk += `${new Date(body.ts).toISOString()}  ${h.patientId}  ${h.deviceId}  ${h.stream.padEnd(5)} #${body.seq}  ${what}\n`;
      }
    }
    await write(chunk);
  }
  process.stderr.write(`${batches - failed} ${o.summaries ? 'summary ' : ''}batches opened${fromIngest ? ` from ${redactUrl(fromIngest)}` : ''}, ${o.summaries ? `${rows} rows` : `${readings} readings`}, ${failed} failures\n`);
  if (failed > 0) process.exitCode = 1;
}
