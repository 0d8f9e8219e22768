/**
 * `npm run bench -- read-filters [--devices 1000] [--seconds 60] [--runs 3] [--json] [--keep]`:
 * how long `vitalgate open` takes on a data directory of many devices, reading everything and
 * with each filter (--patient, --device, --stream, --from/--to), which read only the batches the
 * batch index says can match.
 *
 * The data directory is built straight into a gateway's store, as a gateway flushing every 2 s
 * would lay it out: one pack per flush holding a batch per device and stream (HR and SpO2 at 1 Hz,
 * ECG at 250 Hz in 1 s frames), its index records, and a keystore under a real (non-demo)
 * passphrase with one patient per device. Each timing is the whole `vitalgate open` process (the
 * built CLI, stdout to /dev/null), start-up and the keystore's scrypt included; median of --runs.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { openSync, closeSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BatchIndex, dataDirLayout, Keystore, PackStore, type BatchRecord } from '@vitalgate/edge-gateway';
import { deriveEpochKey, sealBatch, type ReadingBody, type StreamName } from '@vitalgate/protocol';
import { CLI_MAIN } from '../harness/child.js';

interface ReadArgs { devices: number; seconds: number; runs: number; json: boolean; keep: boolean }

export interface ReadTiming { filter: string; args: string[]; seconds: number; batches: number; readings: number }
export interface ReadFiltersResult { devices: number; seconds: number; batches: number; packs: number; storeMegabytes: number; buildSeconds: number; runs: ReadTiming[] }

const FLUSH_MS = 2000;
const EPOCH_MS = 15 * 60_000;
const id = (p: string, i: number) => `${p}-${String(i).padStart(4, '0')}`;

function parse(argv: readonly string[]): ReadArgs {
  const a: ReadArgs = { devices: 1000, seconds: 60, runs: 3, json: false, keep: false };
  for (let i = 0; i < argv.length; i++) {
    const f = argv[i]!;
    const n = () => {
      const v = Number(argv[++i]);
      if (!Number.isInteger(v) || v < 1) throw new Error(`${f} must be a positive integer`);
      return v;
    };
    if (f === '--devices') a.devices = n();
    else if (f === '--seconds') a.seconds = n();
    else if (f === '--runs') a.runs = n();
    else if (f === '--json') a.json = true;
    else if (f === '--keep') a.keep = true;
    else throw new Error(`read-filters: unknown argument ${JSON.stringify(f)} (flags: --devices N --seconds S --runs N --json --keep)`);
  }
  return a;
}

/** One flush's bodies for one device: 2 s of HR, SpO2 and ECG starting at t. */
function bodies(t: number, seq: number, dev: number): Array<[StreamName, ReadingBody[]]> {
  const hr: ReadingBody[] = [];
  const spo2: ReadingBody[] = [];
  const ecg: ReadingBody[] = [];
  for (let s = 0; s < FLUSH_MS / 1000; s++) {
    const ts = t + s * 1000;
    hr.push({ seq: seq + s, ts, values: { hr: 60 + ((dev + s) % 40) }, rr: [800 + (dev % 200)] });
    spo2.push({ seq: seq + s, ts, values: { spo2: 94 + (dev % 6) } });
    ecg.push({ seq: seq + s, ts, rate: 250, samples: Array.from({ length: 250 }, (_, k) => Math.round(900 * Math.sin((2 * Math.PI * (k + dev)) / 250))) });
  }
  return [['hr', hr], ['spo2', spo2], ['ecg', ecg]];
}

async function build(dataDir: string, passphrase: string, a: ReadArgs, end: number): Promise<{ batches: number; packs: number; bytes: number }> {
  const dirs = dataDirLayout(dataDir);
  const keystore = await Keystore.open(dirs.keys, passphrase);
  const pms: Uint8Array[] = [];
  for (let d = 0; d < a.devices; d++) pms.push(await keystore.put(id('patient', d), randomBytes(32)));
  const store = new PackStore(dirs.store);
  const { index } = await BatchIndex.open(dirs.index);
  const flushes = Math.ceil((a.seconds * 1000) / FLUSH_MS);
  let batches = 0;
  let bytes = 0;
  try {
    for (let f = 0; f < flushes; f++) {
      const t = end - (flushes - f) * FLUSH_MS;
      const epoch = Math.floor(t / EPOCH_MS);
      const sealed: Array<{ rec: Omit<BatchRecord, 'pack' | 'offset' | 'durableAt'>; bytes: Uint8Array }> = [];
      for (let d = 0; d < a.devices; d++) {
        const patientId = id('patient', d);
        const deviceId = id('dev', d);
        for (const [stream, list] of bodies(t, f * 2, d)) {
          const s = sealBatch(deriveEpochKey(pms[d]!, patientId, stream, epoch), { stream, patientId, deviceId, epoch, seq: f, bodies: list });
          sealed.push({ rec: { id: s.id, patientId, deviceId, stream, epoch, seq: f, firstTs: s.header.firstTs, lastTs: s.header.lastTs, count: s.header.count, bytes: s.bytes.length }, bytes: s.bytes });
          bytes += s.bytes.length;
        }
      }
      const stored = await store.putMany(sealed.map((s) => ({ id: s.rec.id, bytes: s.bytes })));
      const durableAt = Date.now();
      await index.append(sealed.map((s, i) => ({ ...s.rec, pack: stored[i]!.pack, offset: stored[i]!.offset, durableAt })));
      batches += sealed.length;
    }
  } finally {
    await index.close();
  }
  return { batches, packs: flushes, bytes };
}

/** Runs `vitalgate open` once; seconds and its own summary line. */
function openOnce(args: string[]): Promise<{ seconds: number; batches: number; readings: number }> {
  return new Promise((resolve, reject) => {
    const devNull = openSync('/dev/null', 'w');
    const t0 = performance.now();
    const child = spawn(process.execPath, [CLI_MAIN, 'open', ...args], { stdio: ['ignore', devNull, 'pipe'] });
    closeSync(devNull);
    let err = '';
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
    child.on('error', reject);
    child.on('close', (code) => {
      const seconds = (performance.now() - t0) / 1000;
      const m = /(\d+) batches opened, (\d+) readings, (\d+) failures/.exec(err);
      if (code !== 0 || !m) return reject(new Error(`vitalgate open ${args.join(' ')} exited ${code}: ${err.slice(-500)}`));
      resolve({ seconds, batches: Number(m[1]), readings: Number(m[2]) });
    });
  });
}

export async function runReadFilters(a: ReadArgs, log: (m: string) => void): Promise<ReadFiltersResult> {
  const root = await mkdtemp(join(tmpdir(), 'vitalgate-bench-read-'));
  try {
    const dataDir = join(root, 'data');
    const passFile = join(root, 'passphrase');
    const passphrase = randomBytes(24).toString('hex');
    await writeFile(passFile, passphrase + '\n', { mode: 0o600 });
    const end = Date.now();
    log(`building a data directory of ${a.devices} devices × ${a.seconds} s (HR, SpO2, ECG; one pack per 2 s flush) in ${dataDir}`);
    const t0 = performance.now();
    const built = await build(dataDir, passphrase, a, end);
    const buildSeconds = (performance.now() - t0) / 1000;
    log(`built ${built.batches} batches in ${built.packs} packs (${(built.bytes / 1e6).toFixed(1)} MB) in ${buildSeconds.toFixed(1)} s`);
    const mid = new Date(end - (a.seconds * 1000) / 2).toISOString();
    const tenBefore = new Date(end - (a.seconds * 1000) / 2 - 10_000).toISOString();
    // The newest 10 s of data, said relative to now as a person would (-Ns), whenever this runs.
    const lastTen = () => `-${Math.ceil((Date.now() - end) / 1000) + 10}s`;
    const cases: Array<[string, string[] | (() => string[])]> = [
      ['everything', []],
      ['--patient (1 of all)', ['--patient', id('patient', Math.floor(a.devices / 2))]],
      ['--device (1 of all)', ['--device', id('dev', 7 % a.devices)]],
      ['--stream hr', ['--stream', 'hr']],
      ['--from/--to (10 s, ISO)', ['--from', tenBefore, '--to', mid]],
      ['--from -Ns (relative, 10 s)', () => ['--from', lastTen()]],
      ['--patient --stream --from', ['--patient', id('patient', 3 % a.devices), '--stream', 'ecg', '--from', tenBefore, '--to', mid]],
    ];
    const runs: ReadTiming[] = [];
    // What every run pays before reading: node, the CLI's imports and the keystore's scrypt.
    cases.unshift(['(matches nothing: start-up, scrypt, index)', ['--patient', 'nobody', '--stream', 'temp', '--from', '0', '--to', '0']]);
    for (const [filter, given] of cases) {
      const times: number[] = [];
      let last = { batches: 0, readings: 0 };
      let extra: string[] = [];
      for (let r = 0; r < a.runs; r++) {
        extra = typeof given === 'function' ? given() : given;
        const o = await openOnce(['--data-dir', dataDir, '--passphrase-file', passFile, '--json', ...extra]);
        times.push(o.seconds);
        last = o;
      }
      times.sort((x, y) => x - y);
      const t = { filter, args: extra, seconds: Math.round(times[Math.floor(times.length / 2)]! * 100) / 100, batches: last.batches, readings: last.readings };
      log(`open ${filter}: ${t.seconds} s (${t.batches} batches, ${t.readings} readings)`);
      runs.push(t);
    }
    return { devices: a.devices, seconds: a.seconds, batches: built.batches, packs: built.packs, storeMegabytes: Math.round(built.bytes / 1e5) / 10, buildSeconds: Math.round(buildSeconds * 10) / 10, runs };
  } finally {
    if (a.keep) log(`kept ${root}`);
    else await rm(root, { recursive: true, force: true });
  }
}

/** The `read-filters` entry: parses its own flags, prints the figures (or JSON) on stdout. */
export async function main(argv: readonly string[]): Promise<void> {
  const a = parse(argv);
  const t0 = Date.now();
  const log = (m: string) => process.stderr.write(`[bench read-filters +${((Date.now() - t0) / 1000).toFixed(1)}s] ${m}\n`);
  const r = await runReadFilters(a, log);
  if (a.json) {
    process.stdout.write(JSON.stringify(r) + '\n');
    return;
  }
  const lines = [`vitalgate open on ${r.devices} devices × ${r.seconds} s: ${r.batches} batches in ${r.packs} packs, ${r.storeMegabytes} MB (whole process, median of ${a.runs}):`];
  for (const t of r.runs) lines.push(`  ${t.filter.padEnd(42)} ${String(t.seconds).padStart(7)} s  ${t.batches} batches, ${t.readings} readings`);
  process.stdout.write(lines.join('\n') + '\n');
}
