/**
 * FHIR R4 export: one hour of the mixed profile (ECG 250 Hz, PPG 64 Hz, HR + RR and SpO2 at 1 Hz,
 * temperature every 10 s) of one patient, sealed by a real gateway into a data directory, then
 * exported by `vitalgate export fhir` as a separate process, the way a person runs it (keystore
 * scrypt, index, packs, decrypt, map, schema check, write). Target: under 5 s. The same export in
 * this process is timed beside it, without the process start and the keystore's scrypt.
 */
import { spawn } from 'node:child_process';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { SimDevice, getProfile } from '@vitalgate/device-sim';
import { Gateway, exportFhir } from '@vitalgate/edge-gateway';
import { pino } from 'pino';
import { CLI_MAIN, type Log } from '../harness/child.js';

export interface FhirExportBenchResult {
  readings: number;
  batches: number;
  observations: number;
  provenances: number;
  bundleMegabytes: number;
  /** Wall time of `vitalgate export fhir` (a new process), seconds. */
  commandSeconds: number;
  /** exportFhir in this process (no process start, keystore already derived once), seconds. */
  inProcessSeconds: number;
  targets: { commandUnder5s: boolean };
}

const HOUR_MS = 3_600_000;
const PATIENT = 'patient-fhir';

export async function runFhirExport(o: { dir: string; passphrase: string; passphraseFile: string; log: Log }): Promise<FhirExportBenchResult> {
  const dataDir = join(o.dir, 'data');
  const end = Math.floor(Date.now() / 60_000) * 60_000;
  const start = end - HOUR_MS;
  const gw = await Gateway.start({ dataDir, passphrase: o.passphrase, summaries: false, logger: pino({ level: 'silent' }) });
  const dev = new SimDevice('patch-fhir', PATIENT, getProfile('mixed'), start, 7);
  let readings = 0;
  try {
    for (let t = start + 60_000; t <= end; t += 60_000) {
      for (const r of dev.due(t)) {
        gw.acceptReading(PATIENT, dev.deviceId, r.stream, r.body, t);
        readings++;
      }
      await gw.flush(true);
    }
  } finally {
    await gw.stop();
  }
  o.log(`fhir: sealed ${readings} readings (1 h of the mixed profile), exporting`);

  const out = join(o.dir, 'bundle.json');
  const args = [CLI_MAIN, 'export', 'fhir', '--data-dir', dataDir, '--patient', PATIENT, '--from', String(start), '--to', String(end + 1), '--out', out, '--passphrase-file', o.passphraseFile];
  const t0 = performance.now();
  await new Promise<void>((resolve, reject) => {
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
    child.on('error', reject);
    child.on('close', (c) => (c === 0 ? resolve() : reject(new Error(`vitalgate export fhir exited ${c}: ${err}`))));
  });
  const commandSeconds = (performance.now() - t0) / 1000;
  const bytes = (await stat(out)).size;

  const t1 = performance.now();
  const r = await exportFhir({ dataDir, passphrase: o.passphrase, patientId: PATIENT, from: start, to: end + 1 });
  await writeFile(join(o.dir, 'bundle-in-process.json'), JSON.stringify(r.bundle));
  const inProcessSeconds = (performance.now() - t1) / 1000;
  if (r.counts.readings !== readings) throw new Error(`fhir: exported ${r.counts.readings} readings of ${readings} sealed`);
  if (JSON.parse(await readFile(out, 'utf8')).entry.length !== r.bundle.entry.length) throw new Error('fhir: the command and the in-process export differ');

  const res: FhirExportBenchResult = {
    readings, batches: r.batchesRead, observations: r.counts.observations, provenances: r.counts.provenances,
    bundleMegabytes: Math.round((bytes / 1e6) * 10) / 10,
    commandSeconds: Math.round(commandSeconds * 100) / 100,
    inProcessSeconds: Math.round(inProcessSeconds * 100) / 100,
    targets: { commandUnder5s: commandSeconds < 5 },
  };
  o.log(`fhir: ${res.readings} readings, ${res.batches} batches → ${res.observations} Observations, ${res.provenances} Provenances, ${res.bundleMegabytes} MB: command ${res.commandSeconds} s (target < 5 s), in process ${res.inProcessSeconds} s`);
  return res;
}

export function fhirLines(f: FhirExportBenchResult): string[] {
  return [
    'FHIR R4 export (vitalgate export fhir, 1 h of the mixed profile, one patient)',
    `  ${f.readings} readings in ${f.batches} batches → ${f.observations} Observations, ${f.provenances} Provenances, ${f.bundleMegabytes} MB, schema-checked`,
    `  command ${f.commandSeconds} s (target < 5 s: ${f.targets.commandUnder5s ? 'met' : 'MISSED'}), in process ${f.inProcessSeconds} s`,
  ];
}
