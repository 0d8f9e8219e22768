export * from './streams.js';
export * from './ids.js';
export * from './reading.js';
export * from './topics.js';
export * from './payload.js';
export * from './epoch-keys.js';
export * from './patient-ref.js';
export * from './request-signature.js';
export * from './epochs.js';
export * from './sealed-batch.js';
export * from './summary.js';
export * from './device-status.js';
export * from './timeline.js';
export * from './decimal.js';
export * from './cobs.js';
export * from './uart-frame.js';
export * from './uart-stream.js';
export * from './ble-sim-wire.js';
export * from './batch-pack.js';
export * from './redact-url.js';
export * from './latency-histogram.js';
export * from './cloud-records.js';
export * from './key-envelope.js';
export * from './batch-bundle.js';
export * from './clinician-key.js';
export { checksumAddress, personalMessageHash, personalSign } from './eth-sign.js';
export { decodeBoolWord, isRecordedCallData } from './anchor-call.js';
export * from './break-glass.js';
export {
  toFhirBundle, fromFhirBundle, compareReadings, sortReadings, IEEE_SPECIALS, DEFAULT_MAX_WAVEFORM_SECONDS, rateFromPeriod,
  ABSENT_REASON as FHIR_ABSENT_REASON, ID_SYSTEM as FHIR_ID_SYSTEM, FRAMES_EXT as FHIR_FRAMES_EXT,
  SCALAR_MAPPINGS as FHIR_SCALAR_MAPPINGS, WAVEFORM_MAPPINGS as FHIR_WAVEFORM_MAPPINGS,
  type FhirExport, type IeeeSpecial, type AbsentValue, type Bundle as FhirBundle, type BundleEntry as FhirBundleEntry,
  type ComponentValue, type FhirDevice, type FhirBatch, type FhirExportInput, type FhirGateway, type FhirImport, type FhirReading,
  type FhirReadingBody, type FhirScalarBody, type FhirObservation, type FhirPatient, type FhirProvenance, type FhirResource,
} from './fhir/index.js';
