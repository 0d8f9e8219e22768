/**
 * Readings ↔ a FHIR R4 Bundle of type `collection`: the Patient, the gateway and sensor Devices,
 * the Observations (scalar vital signs and bounded waveform segments), and one Provenance per
 * sealed batch. Entries use `urn:uuid:` full URLs with name-based UUIDs, so the same readings
 * always give the same bundle, and every reference resolves inside it.
 *
 * Readings of streams with no FHIR mapping (accelerometry) are left out and counted in `skipped`.
 * The reverse mapping gives the readings back in canonical order (sortReadings).
 */
import type { WaveformBody } from '../reading.js';
import { STREAMS, type StreamName } from '../streams.js';
import { ID_SYSTEM } from './codes.js';
import { gatewayDevice, readDevice, sensorDevice } from './devices.js';
import { isScalarMapped, readScalarObservation, scalarObservation, scalarStreamOf, type ObservationContext } from './observations.js';
import { batchProvenance, readProvenance } from './provenance.js';
import { fullUrl, isoMs, nameUuid } from './refs.js';
import type {
  Bundle, BundleEntry, Device, FhirExportInput, FhirImport, FhirReading, FhirScalarBody, Observation, Patient, Provenance, Reference, Resource,
} from './types.js';
import { isWaveformMapped, readWaveformObservation, waveformObservations, waveformStreamOf } from './waveforms.js';

export interface FhirExport {
  bundle: Bundle;
  counts: { observations: number; devices: number; provenances: number; readings: number };
  /** Readings left out, by stream, because FHIR export does not map that stream. */
  skipped: Partial<Record<StreamName, number>>;
}

/** Device, then stream, then time, then sequence number: the order the bundle states readings in. */
export function compareReadings(a: FhirReading, b: FhirReading): number {
  if (a.deviceId !== b.deviceId) return a.deviceId < b.deviceId ? -1 : 1;
  if (a.stream !== b.stream) return STREAMS[a.stream].id - STREAMS[b.stream].id;
  return a.body.ts - b.body.ts || a.body.seq - b.body.seq;
}

export const sortReadings = <T extends FhirReading>(rs: readonly T[]): T[] => [...rs].sort(compareReadings);

const isWaveform = (r: FhirReading): r is FhirReading & { body: WaveformBody } => (r.body as WaveformBody).samples !== undefined;

const ref = (r: Resource): Reference => ({ reference: fullUrl(r.id) });

export function toFhirBundle(input: FhirExportInput): FhirExport {
  const { patientId } = input;
  const patient: Patient = { resourceType: 'Patient', id: nameUuid(`patient/${patientId}`), identifier: [{ system: ID_SYSTEM.patient, value: patientId }] };
  const gateway = gatewayDevice(input.gateway);
  const skipped: FhirExport['skipped'] = {};
  const mapped: FhirReading[] = [];
  for (const r of input.readings) {
    if (isScalarMapped(r.stream) || isWaveformMapped(r.stream)) mapped.push(r);
    else skipped[r.stream] = (skipped[r.stream] ?? 0) + 1;
  }
  const readings = sortReadings(mapped);

  const streamsOf = new Map<string, Set<StreamName>>();
  for (const r of readings) {
    let s = streamsOf.get(r.deviceId);
    if (!s) streamsOf.set(r.deviceId, (s = new Set()));
    s.add(r.stream);
  }
  const devices = new Map<string, Device>();
  for (const [id, s] of streamsOf) devices.set(id, sensorDevice(patientId, id, [...s], ref(patient)));

  const observations: Observation[] = [];
  const targets = new Map<string, Set<Observation>>();
  const cite = (batchId: string | undefined, o: Observation) => {
    if (batchId === undefined) return;
    let t = targets.get(batchId);
    if (!t) targets.set(batchId, (t = new Set()));
    t.add(o);
  };
  const ctxOf = (deviceId: string): ObservationContext => ({ subject: ref(patient), device: ref(devices.get(deviceId)!), gateway: ref(gateway) });
  for (let i = 0; i < readings.length;) {
    const r = readings[i]!;
    if (!isWaveform(r)) {
      const o = scalarObservation(patientId, r as FhirReading & { body: FhirScalarBody }, ctxOf(r.deviceId));
      observations.push(o);
      cite(r.batchId, o);
      i++;
      continue;
    }
    let j = i;
    while (j < readings.length && readings[j]!.deviceId === r.deviceId && readings[j]!.stream === r.stream) j++;
    const frames = readings.slice(i, j) as Array<FhirReading & { body: WaveformBody }>;
    for (const seg of waveformObservations(patientId, r.stream, frames, ctxOf(r.deviceId), input.maxWaveformSeconds)) {
      observations.push(seg.observation);
      for (const fr of seg.readings) cite(fr.batchId, seg.observation);
    }
    i = j;
  }

  const provenances: Provenance[] = [];
  for (const b of input.batches ?? []) {
    const t = targets.get(b.id);
    if (t && t.size > 0) provenances.push(batchProvenance(patientId, b, [...t].map(ref), ref(gateway)));
  }

  const resources: Resource[] = [patient, gateway, ...devices.values(), ...observations, ...provenances];
  const bundle: Bundle = {
    resourceType: 'Bundle',
    id: nameUuid(`bundle/${patientId}/${observations.map((o) => o.id).join(',')}`),
    type: 'collection',
    ...(input.timestamp !== undefined ? { timestamp: isoMs(input.timestamp) } : {}),
    entry: resources.map((resource) => ({ fullUrl: fullUrl(resource.id), resource })),
  };
  return {
    bundle,
    counts: { observations: observations.length, devices: devices.size + 1, provenances: provenances.length, readings: readings.length },
    skipped,
  };
}

/**
 * The readings, gateway and batches a bundle made by toFhirBundle states. Throws, naming the
 * resource, on anything this mapping would not have written.
 */
export function fromFhirBundle(bundle: Bundle): FhirImport {
  if (bundle.resourceType !== 'Bundle' || bundle.type !== 'collection') throw new Error('not a FHIR Bundle of type collection');
  const byUrl = new Map<string, BundleEntry>();
  for (const e of bundle.entry ?? []) byUrl.set(e.fullUrl, e);
  const patients = (bundle.entry ?? []).filter((e): e is BundleEntry<Patient> => e.resource.resourceType === 'Patient');
  if (patients.length !== 1) throw new Error(`expected one Patient, found ${patients.length}`);
  const patientId = patients[0]!.resource.identifier.find((i) => i.system === ID_SYSTEM.patient)?.value;
  if (patientId === undefined) throw new Error(`Patient has no ${ID_SYSTEM.patient} identifier`);

  let gateway: FhirImport['gateway'] | undefined;
  const deviceIdOf = new Map<string, string>();
  for (const e of bundle.entry ?? []) {
    if (e.resource.resourceType !== 'Device') continue;
    const d = readDevice(e.resource);
    if (d.gateway) gateway = { id: d.id, ...(d.display !== undefined && d.display !== `Vitalgate edge gateway ${d.id}` ? { display: d.display } : {}) };
    else deviceIdOf.set(e.fullUrl, d.id);
  }
  if (!gateway) throw new Error('no gateway Device');

  const readings: FhirReading[] = [];
  const lastFrame = new Map<string, FhirReading>();
  const batches = [];
  for (const e of bundle.entry ?? []) {
    const res = e.resource;
    if (res.resourceType === 'Provenance') {
      batches.push(readProvenance(res));
      continue;
    }
    if (res.resourceType !== 'Observation') continue;
    const deviceId = deviceIdOf.get(res.device?.reference ?? '');
    if (deviceId === undefined) throw new Error(`Observation ${res.id}: its device is not a sensor Device in this bundle`);
    const wave = waveformStreamOf(res);
    if (wave) {
      const key = `${deviceId}/${wave}`;
      const frames = readWaveformObservation(res, wave, deviceId, lastFrame.get(key));
      readings.push(...frames);
      if (frames.length > 0) lastFrame.set(key, frames.at(-1)!);
      continue;
    }
    const stream = scalarStreamOf(res);
    if (!stream) throw new Error(`Observation ${res.id}: code ${res.code.coding?.[0]?.code ?? '?'} is not one Vitalgate exports`);
    readings.push(readScalarObservation(res, stream, deviceId));
  }
  return { patientId, gateway, readings, batches };
}
