/**
 * The shapes the FHIR export reads and writes. FHIR resources are typed only as far as this
 * mapping builds and reads them (the schema check is the authority on validity, not these types).
 */
import type { StreamName } from '../streams.js';
import type { ScalarBody, WaveformBody } from '../reading.js';
import type { Coding, IeeeSpecial } from './codes.js';

/** A component a device could not measure: an IEEE 11073 special value instead of a number. */
export interface AbsentValue { absent: IeeeSpecial }
export type ComponentValue = number | AbsentValue;

/** A scalar body whose components may be absent values (a stored one never is). */
export type FhirScalarBody = Omit<ScalarBody, 'values'> & { values: Record<string, ComponentValue> };

export type FhirReadingBody = WaveformBody | FhirScalarBody;

/** A reading as the export takes it: a stored reading, or a decoded one that may carry specials. */
export interface FhirReading {
  deviceId: string;
  stream: StreamName;
  body: FhirReadingBody;
  /** The sealed batch it was opened from, which its Observation's Provenance names. */
  batchId?: string;
}

/** A sealed batch as its Provenance states it. */
export interface FhirBatch {
  id: string;
  /** When the batch was durable at the gateway (ms): Provenance.recorded. */
  recorded: number;
  /** Time of its first and last reading (ms): Provenance.occurredPeriod. */
  firstTs: number;
  lastTs: number;
  /** The mined anchor whose Merkle root covers the batch; absent while unanchored. */
  anchor?: { root: string; txHash: string };
}

export interface FhirGateway {
  /** The gateway's chain account when it has one, else a name for it. */
  id: string;
  display?: string;
}

export interface FhirExportInput {
  patientId: string;
  gateway: FhirGateway;
  readings: readonly FhirReading[];
  batches?: readonly FhirBatch[];
  /** Longest waveform Observation, seconds (default 10). */
  maxWaveformSeconds?: number;
  /** Bundle.timestamp (ms); left out when absent, so the same input gives the same bundle. */
  timestamp?: number;
}

export interface Reference { reference?: string; display?: string; identifier?: Identifier }
export interface Identifier { system: string; value: string }
export interface CodeableConcept { coding?: Coding[]; text?: string }
export interface Quantity { value: number; unit?: string; system?: string; code?: string }
export interface Extension { url: string; valueString?: string; valueReference?: Reference }

export interface SampledData {
  origin: Quantity;
  period: number;
  factor?: number;
  dimensions: number;
  data?: string;
}

export interface ObservationComponent {
  code: CodeableConcept;
  valueQuantity?: Quantity;
  dataAbsentReason?: CodeableConcept;
}

export interface Observation {
  resourceType: 'Observation';
  id: string;
  meta?: { profile: string[] };
  extension?: Extension[];
  identifier?: Identifier[];
  status: 'final';
  category: CodeableConcept[];
  code: CodeableConcept;
  subject: Reference;
  effectiveDateTime?: string;
  effectivePeriod?: { start: string; end: string };
  device?: Reference;
  valueQuantity?: Quantity;
  valueSampledData?: SampledData;
  dataAbsentReason?: CodeableConcept;
  component?: ObservationComponent[];
}

export interface Device {
  resourceType: 'Device';
  id: string;
  identifier: Identifier[];
  type: CodeableConcept;
  specialization?: Array<{ systemType: CodeableConcept }>;
  deviceName?: Array<{ name: string; type: 'user-friendly-name' | 'model-name' | 'other' }>;
  patient?: Reference;
}

export interface Patient {
  resourceType: 'Patient';
  id: string;
  identifier: Identifier[];
}

export interface Provenance {
  resourceType: 'Provenance';
  id: string;
  target: Reference[];
  occurredPeriod: { start: string; end: string };
  recorded: string;
  agent: Array<{ type: CodeableConcept; who: Reference }>;
  entity: Array<{ role: 'source'; what: Reference }>;
}

export type Resource = Observation | Device | Patient | Provenance;

export interface BundleEntry<R = Resource> { fullUrl: string; resource: R }

export interface Bundle {
  resourceType: 'Bundle';
  id: string;
  type: 'collection';
  timestamp?: string;
  entry: BundleEntry[];
}

/** What the reverse mapping gives back. */
export interface FhirImport {
  patientId: string;
  gateway: FhirGateway;
  readings: FhirReading[];
  batches: FhirBatch[];
}
