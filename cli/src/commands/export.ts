import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { dataDirLayout, exportFhir, FhirExportInputError, parseExportTime } from '@vitalgate/edge-gateway';
import { ALLOW_DEMO_OPTION, keystorePassphrase } from '../passphrase.js';

interface ExportFhirOptions {
  dataDir?: string; patient?: string; from?: string; to?: string; out?: string; maxWaveformSeconds?: string;
  passphraseFile?: string; allowDemoPassphrase?: boolean;
}

function usage(message: string): never {
  process.stderr.write(`vitalgate export fhir: ${message}\n(add --help for usage)\n`);
  process.exit(2);
}

export function registerExport(program: Command): void {
  const exp = program.command('export').description('export stored readings in a standard format');
  exp
    .command('fhir')
    .description("export one patient's readings over a time range as a FHIR R4 Bundle (type collection), decrypted with the gateway keystore")
    .option('--data-dir <dir>', 'gateway data directory (required)')
    .option('--patient <id>', 'patient id (required)')
    .option('--from <time>', 'start, inclusive: ISO 8601, ms since 1970, or relative to now (-10m, -2h, -7d, now) (required)')
    .option('--to <time>', 'end, exclusive: same forms as --from (required)')
    .option('--out <file>', 'write the bundle here instead of stdout')
    .option('--max-waveform-seconds <s>', 'longest ECG/PPG Observation', '10')
    .option('--passphrase-file <file>', 'file holding the gateway passphrase (or set VITALGATE_PASSPHRASE_FILE)')
    .option(...ALLOW_DEMO_OPTION)
    .addHelpText('after', [
      '',
      'The bundle holds the Patient, a Device per sensor and one for the gateway (IEEE 11073 PHD style),',
      'vital-signs Observations (heart rate 8867-4 with RR intervals, SpO2 2708-6/59408-5, body temperature',
      '8310-5, respiratory rate 9279-1, blood pressure panel 85354-9 with 8480-6/8462-4; glucose 2339-0 as',
      'laboratory), ECG and PPG as valueSampledData of at most --max-waveform-seconds each, and a Provenance',
      'per sealed batch with its batch id and, once anchored, its Merkle root and transaction.',
      'Every bundle is checked against the FHIR R4 JSON schema before it is written; mapping: docs/fhir.md.',
      '',
      'Example:',
      '  vitalgate export fhir --data-dir .vitalgate --patient patient-001 --from -1h --to now --out bundle.json',
      '',
      'Exit codes: 0 written; 1 some batches did not open (reported on stderr; the rest is written);',
      '2 invalid input (missing option, unknown patient, bad times, --from not before --to, no data directory).',
    ].join('\n'))
    .action(async (o: ExportFhirOptions) => {
      for (const k of ['dataDir', 'patient', 'from', 'to'] as const) {
        if (!o[k]) usage(`--${k === 'dataDir' ? 'data-dir' : k} is required`);
      }
      const maxWaveformSeconds = Number(o.maxWaveformSeconds);
      if (!(maxWaveformSeconds > 0)) usage('--max-waveform-seconds must be a positive number of seconds');
      const now = Date.now();
      let from: number;
      let to: number;
      try {
        from = parseExportTime(o.from!, now);
        to = parseExportTime(o.to!, now);
      } catch (e) {
        usage((e as Error).message);
      }
      if (from >= to) usage(`--from (${new Date(from).toISOString()}) must be before --to (${new Date(to).toISOString()})`);
      if (!existsSync(o.dataDir!)) usage(`${o.dataDir}: no such directory (is it a Vitalgate data directory?)`);
      const { passphrase } = await keystorePassphrase({ passphraseFile: o.passphraseFile, allowDemo: o.allowDemoPassphrase, keysDir: dataDirLayout(o.dataDir!).keys });
      let result;
      try {
        result = await exportFhir({ dataDir: o.dataDir!, passphrase, patientId: o.patient!, from, to, maxWaveformSeconds, now });
      } catch (e) {
        if (e instanceof FhirExportInputError) usage(e.message);
        throw e;
      }
      const json = JSON.stringify(result.bundle) + '\n';
      if (o.out) await writeFile(o.out, json);
      else await new Promise<void>((resolve, reject) => process.stdout.write(json, (err) => (err ? reject(err) : resolve())));
      for (const f of result.failures) process.stderr.write(`batch ${f.id} FAILED: ${f.reason}\n`);
      const skipped = Object.entries(result.skipped).map(([s, n]) => `${n} ${s}`).join(', ');
      process.stderr.write(`${result.counts.readings} readings from ${result.batchesRead} batches → ${result.counts.observations} Observations, ${result.counts.devices} Devices, ${result.counts.provenances} Provenances${skipped ? ` (not exported: ${skipped} readings with no FHIR mapping)` : ''}${o.out ? ` → ${o.out}` : ''}; FHIR R4 schema: valid\n`);
      if (result.failures.length > 0) process.exitCode = 1;
    });
}
