/** FHIR R4 export: readings ↔ a Bundle of Observations, Devices and Provenance. No I/O; browser-safe. */
export {
  toFhirBundle, fromFhirBundle, compareReadings, sortReadings, type FhirExport,
} from './bundle.js';
export {
  ABSENT_REASON, DEVICE_SPECIALIZATION, FRAMES_EXT, ID_SYSTEM, IEEE_SPECIALS, LOINC, MDC, SCALAR_MAPPINGS, UCUM, WAVEFORM_MAPPINGS,
  type IeeeSpecial,
} from './codes.js';
export { DEFAULT_MAX_WAVEFORM_SECONDS, rateFromPeriod } from './waveforms.js';
export type {
  AbsentValue, Bundle, BundleEntry, ComponentValue, Device as FhirDevice, FhirBatch, FhirExportInput, FhirGateway, FhirImport,
  FhirReading, FhirReadingBody, FhirScalarBody, Observation as FhirObservation, Patient as FhirPatient, Provenance as FhirProvenance,
  Resource as FhirResource,
} from './types.js';
