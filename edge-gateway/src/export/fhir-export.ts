/**
 * FHIR R4 export on the patient side: the sealed batches of one patient over a time range, opened
 * with the patient's key from the gateway keystore and mapped (protocol's fhir/) to a Bundle with
 * a Provenance per batch naming its anchor, then checked against the FHIR R4 schema.
 *
 * Only the packs that hold the patient's batches in the range are read: the batch index says which.
 * A read never creates state: a data directory without an index or a keystore is refused.
 */
import { access } from 'node:fs/promises';
import {
  assertValidId, batchId, toFhirBundle, type FhirBatch, type FhirExport, type FhirReading,
} from '@vitalgate/protocol';
import { assertFhirValid, prepareFhirSchema } from '@vitalgate/protocol/fhir-schema';
import { readAnchors } from '../anchoring/anchorer.js';
import { readGatewayAccount } from '../anchoring/verify.js';
import { Keystore } from '../keys/keystore.js';
import { BatchIndex, type BatchRecord } from '../store/batch-index.js';
import { openOne } from '../store/batch-reader.js';
import { dataDirLayout } from '../store/data-dir.js';
import { PackStore } from '../store/pack-store.js';

/** Input the caller can fix (unknown patient, bad range, not a data directory): the CLI exits 2. */
export class FhirExportInputError extends Error {}

export interface FhirExportOptions {
  dataDir: string;
  passphrase: string;
  patientId: string;
  /** Inclusive start and exclusive end, ms since the Unix epoch. */
  from: number;
  to: number;
  maxWaveformSeconds?: number;
  /** Bundle.timestamp, ms (default now). */
  now?: number;
}

export interface FhirExportResult extends FhirExport {
  batchesRead: number;
  packsRead: number;
  /** Batches that did not open (hash, format, authentication): left out, reported. */
  failures: Array<{ id: string; reason: string }>;
}

const RELATIVE = /^-(\d+(?:\.\d+)?)(s|m|h|d)$/;
const UNIT_MS = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

/** An export time: ISO 8601 (with a zone or Z), ms since 1970, or relative to now (`-10m`, `-2h`, `-7d`, `now`). */
export function parseExportTime(v: string, now = Date.now()): number {
  if (v.trim() === 'now') return now;
  const rel = RELATIVE.exec(v.trim());
  if (rel) return now - Number(rel[1]) * UNIT_MS[rel[2] as keyof typeof UNIT_MS];
  if (/^\d+$/.test(v.trim())) return Number(v.trim());
  if (!/^\d{4}-\d{2}-\d{2}(T.*)?$/.test(v.trim())) throw new FhirExportInputError(`"${v}" is not a time: use ISO 8601 (2026-03-01T08:00:00Z), ms since 1970, or relative (-10m, -2h, -7d, now)`);
  const [y, m, d] = v.trim().slice(0, 10).split('-').map(Number) as [number, number, number];
  // Date.parse rolls 2026-02-30 over to March 2nd; a date that is not on the calendar is a typo.
  const t = m >= 1 && m <= 12 && d >= 1 && d <= new Date(Date.UTC(y, m, 0)).getUTCDate() ? Date.parse(v.trim()) : NaN;
  if (!Number.isFinite(t)) throw new FhirExportInputError(`"${v}" is not a valid ISO 8601 time`);
  return t;
}

/** What toFhirBundle writes: checked at the end, compiled early. */
const FHIR_EXPORT_TYPES = ['Bundle', 'Observation', 'Device', 'Provenance', 'Patient'] as const;

const exists = (p: string) => access(p).then(() => true, () => false);

export async function exportFhir(o: FhirExportOptions): Promise<FhirExportResult> {
  try {
    assertValidId('patient', o.patientId);
  } catch (e) {
    throw new FhirExportInputError((e as Error).message);
  }
  if (!(Number.isFinite(o.from) && Number.isFinite(o.to))) throw new FhirExportInputError('--from and --to must be times');
  if (o.from >= o.to) throw new FhirExportInputError(`--from (${new Date(o.from).toISOString()}) must be before --to (${new Date(o.to).toISOString()})`);
  const dirs = dataDirLayout(o.dataDir);
  if (!(await exists(dirs.index)) || !(await Keystore.inspect(dirs.keys)).exists) {
    throw new FhirExportInputError(`${o.dataDir} is not a Vitalgate data directory (no batch index or keystore there)`);
  }
  // The key derivation runs on the thread pool; the schema compiles on this thread meanwhile.
  const opening = Keystore.open(dirs.keys, o.passphrase);
  opening.catch(() => undefined);
  prepareFhirSchema(FHIR_EXPORT_TYPES);
  const keystore = await opening;
  if (!(await keystore.get(o.patientId))) throw new FhirExportInputError(`unknown patient ${o.patientId}: this gateway's keystore holds no key for it`);

  const all = await BatchIndex.load(dirs.index);
  const wanted = all.filter((r) => !r.kind && r.patientId === o.patientId && r.firstTs < o.to && r.lastTs >= o.from);
  const byPack = new Map<string, Map<string, BatchRecord>>();
  for (const r of wanted) {
    let m = byPack.get(r.pack);
    if (!m) byPack.set(r.pack, (m = new Map()));
    m.set(r.id, r);
  }

  const store = new PackStore(dirs.store);
  const readings: FhirReading[] = [];
  const failures: FhirExportResult['failures'] = [];
  const opened = new Map<string, BatchRecord>();
  for (const [pack, ids] of byPack) {
    let bytes: Uint8Array;
    try {
      bytes = await store.readPack(pack);
    } catch (e) {
      for (const id of ids.keys()) failures.push({ id, reason: `pack ${pack} unreadable: ${(e as Error).message}` });
      continue;
    }
    const entries = PackStore.split(bytes);
    if (!entries.ok) {
      for (const id of ids.keys()) failures.push({ id, reason: `pack ${pack}: ${entries.reason}` });
      continue;
    }
    for (const { bytes: sealed } of entries.value) {
      const id = batchId(sealed);
      const rec = ids.get(id);
      if (!rec) continue;
      const b = await openOne(keystore, pack, id, sealed);
      if (!b.ok) {
        failures.push({ id, reason: b.reason });
        continue;
      }
      opened.set(id, rec);
      for (const body of b.bodies) {
        if (body.ts < o.from || body.ts >= o.to) continue;
        readings.push({ deviceId: b.header.deviceId, stream: b.header.stream, body, batchId: id });
      }
    }
    for (const id of ids.keys()) if (!opened.has(id) && !failures.some((f) => f.id === id)) failures.push({ id, reason: `listed in the index but not in pack ${pack}` });
  }

  const anchorOf = new Map<string, { root: string; txHash: string }>();
  for (const a of await readAnchors(dirs.anchors, all)) {
    if (!a.mined) continue;
    for (const id of a.ids) if (opened.has(id)) anchorOf.set(id, { root: a.root, txHash: a.mined.txHash });
  }
  const batches: FhirBatch[] = [...opened.values()].map((r) => {
    const anchor = anchorOf.get(r.id);
    return { id: r.id, recorded: r.durableAt, firstTs: r.firstTs, lastTs: r.lastTs, ...(anchor ? { anchor } : {}) };
  });
  const account = await readGatewayAccount(o.dataDir);
  const result = toFhirBundle({
    patientId: o.patientId,
    gateway: account ? { id: account } : { id: 'local', display: 'Vitalgate edge gateway (no chain account)' },
    readings, batches, timestamp: o.now ?? Date.now(), maxWaveformSeconds: o.maxWaveformSeconds,
  });
  // Refuse to hand out a bundle that is not R4: a receiver would reject it, or worse, misread it.
  assertFhirValid(result.bundle);
  return { ...result, batchesRead: opened.size, packsRead: byPack.size, failures };
}
