/**
 * FHIR R4 export on the clinician's side, built in this browser from the batches the clinician may
 * read (the same mapping as `vitalgate export fhir`: protocol's toFhirBundle). Readings only, up to
 * MAX_FHIR_EXPORT_MS (summaries are not readings): each granted stream's batches of the range are
 * fetched as bundles, opened in the workers, and only those that opened and whose proof did not fail
 * go in. A batch's Provenance names its Merkle root and anchoring transaction once the chain has
 * verified it here; its `recorded` is the batch's last reading (the cloud does not know when the
 * gateway made it durable).
 */
import { toFhirBundle, type FhirReading, type FhirExport, type ReadingBody, type StreamName } from '@vitalgate/protocol';
import type { BundleAnchor, BundleBatch } from './api.js';
import type { Opened } from './opened.js';
import type { ProofState } from './proof.js';

/** The longest range exported: six hours of 250 Hz ECG is already 5.4 M samples in one JSON file. */
export const MAX_FHIR_EXPORT_MS = 6 * 3_600_000;

export interface FhirExportDeps {
  streams: Array<{ stream: string; from: number; until: number }>;
  bundle(stream: string, from: number, to: number): Promise<BundleBatch[]>;
  open(b: BundleBatch): Promise<Opened>;
  prove(id: string, anchor: BundleAnchor | undefined): Promise<ProofState>;
}

export interface BrowserFhirExport extends FhirExport { failed: Array<{ id: string; reason: string }> }

export async function exportFhirInBrowser(d: FhirExportDeps, from: number, to: number): Promise<BrowserFhirExport> {
  if (to - from > MAX_FHIR_EXPORT_MS) throw new Error(`a FHIR export covers at most ${MAX_FHIR_EXPORT_MS / 3_600_000} h: zoom in first`);
  const readings: FhirReading[] = [];
  const batches: Array<{ id: string; recorded: number; firstTs: number; lastTs: number; anchor?: { root: string; txHash: string } }> = [];
  const failed: BrowserFhirExport['failed'] = [];
  let patientId: string | undefined;
  let gateway: string | undefined;
  await Promise.all(d.streams.map(async (g) => {
    const lo = Math.max(from, g.from);
    const hi = Math.min(to, g.until);
    if (hi <= lo) return;
    const items = await d.bundle(g.stream, lo, hi);
    await Promise.all(items.map(async (b) => {
      const [o, proof] = await Promise.all([d.open(b), d.prove(b.item.id, b.item.anchor).catch(() => 'pending' as const)]);
      if (!o.ok) return void failed.push({ id: b.item.id, reason: o.reason });
      if (proof === 'failed') return void failed.push({ id: b.item.id, reason: 'its Merkle proof does not lead to a root the gateway anchored' });
      patientId ??= b.item.patient;
      if (b.item.anchor) gateway ??= b.item.anchor.gateway;
      for (const r of o.readings ?? []) readings.push({ deviceId: o.deviceId, stream: o.stream as StreamName, body: r as ReadingBody, batchId: o.id });
      batches.push({
        id: o.id, recorded: b.item.lastTs, firstTs: b.item.firstTs, lastTs: b.item.lastTs,
        ...(proof === 'verified' && b.item.anchor && { anchor: { root: b.item.anchor.root, txHash: b.item.anchor.tx } }),
      });
    }));
  }));
  if (!patientId) throw new Error('no readings in this range that this clinician may read');
  // Readings lie in [from, to): a batch that began before `from` brings earlier ones along.
  const inRange = readings.filter((r) => r.body.ts >= from && r.body.ts < to);
  const out = toFhirBundle({ patientId, gateway: { id: gateway ?? 'unknown', display: "the patient's edge gateway" }, readings: inRange, batches });
  return { ...out, failed };
}
