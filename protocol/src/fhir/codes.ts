/**
 * The code systems, codes and identifier systems of the FHIR R4 export, in one place so the forward
 * and reverse mappings cannot disagree. LOINC codes and UCUM units come from the stream table
 * (streams.ts); this file adds what FHIR needs beside them: displays, the vital-signs profiles, the
 * ISO/IEEE 11073-10101 (MDC) codes of waveforms, devices and RR intervals, and dataAbsentReason.
 */
import type { StreamName } from '../streams.js';

export const LOINC = 'http://loinc.org';
export const UCUM = 'http://unitsofmeasure.org';
/** ISO/IEEE 11073-10101 nomenclature (MDC); its OID is 2.16.840.1.113883.6.24. */
export const MDC = 'urn:iso:std:iso:11073:10101';
export const OBSERVATION_CATEGORY = 'http://terminology.hl7.org/CodeSystem/observation-category';
export const DATA_ABSENT_REASON = 'http://terminology.hl7.org/CodeSystem/data-absent-reason';
export const PROVENANCE_PARTICIPANT = 'http://terminology.hl7.org/CodeSystem/provenance-participant-type';
/** R4 core extension the PHD IG uses to name the gateway (PHG) that relayed a measurement. */
export const GATEWAY_DEVICE_EXT = 'http://hl7.org/fhir/StructureDefinition/observation-gatewayDevice';

/** Vitalgate's own identifier systems (logical URNs: nothing to resolve). */
export const ID_SYSTEM = {
  patient: 'urn:vitalgate:patient',
  device: 'urn:vitalgate:device',
  gateway: 'urn:vitalgate:gateway',
  /** `{deviceId}/{stream}/{seq}`: the device reading a scalar Observation states. */
  reading: 'urn:vitalgate:reading',
  /** `{deviceId}/{stream}/{first sample ms}`: one waveform segment. */
  segment: 'urn:vitalgate:waveform-segment',
  batch: 'urn:vitalgate:batch-id',
  merkleRoot: 'urn:vitalgate:merkle-root',
  anchorTx: 'urn:vitalgate:anchor-tx',
} as const;

/**
 * The device readings a waveform Observation is made of, so the reverse mapping gives back each
 * frame with its own sequence number and time (a logical extension URL, as R4 allows).
 */
export const FRAMES_EXT = 'urn:vitalgate:fhir:extension:reading-frames';

export interface Coding { system: string; code: string; display: string }

const loinc = (code: string, display: string): Coding => ({ system: LOINC, code, display });
const mdc = (code: number, display: string): Coding => ({ system: MDC, code: String(code), display });

/** LOINC displays of every code the stream table uses. */
export const LOINC_DISPLAY: Readonly<Record<string, string>> = {
  '8867-4': 'Heart rate',
  '2708-6': 'Oxygen saturation in Arterial blood',
  '59408-5': 'Oxygen saturation in Arterial blood by Pulse oximetry',
  '8889-8': 'Heart rate by Pulse oximetry',
  '8310-5': 'Body temperature',
  '9279-1': 'Respiratory rate',
  '85354-9': 'Blood pressure panel with all children optional',
  '8480-6': 'Systolic blood pressure',
  '8462-4': 'Diastolic blood pressure',
  '8478-0': 'Mean blood pressure',
  '2339-0': 'Glucose [Mass/volume] in Blood',
  '11524-6': 'EKG study',
};

/** The scalar streams the export maps, each with its Observation code and (vital signs) profile. */
export interface ScalarMapping {
  codes: Coding[];
  /** The component reported as the Observation's own value; undefined for a panel (BP). */
  primary?: string;
  /** The R4 vital-signs profile the Observation conforms to, or undefined (glucose). */
  profile?: string;
  category: 'vital-signs' | 'laboratory';
}

const VS = 'http://hl7.org/fhir/StructureDefinition/';

export const SCALAR_MAPPINGS: Partial<Readonly<Record<StreamName, ScalarMapping>>> = {
  hr: { codes: [loinc('8867-4', LOINC_DISPLAY['8867-4']!)], primary: 'hr', profile: `${VS}heartrate`, category: 'vital-signs' },
  // The vital-signs profile asks for 2708-6; 59408-5 says it was measured by pulse oximetry.
  spo2: {
    codes: [loinc('2708-6', LOINC_DISPLAY['2708-6']!), loinc('59408-5', LOINC_DISPLAY['59408-5']!)],
    primary: 'spo2', profile: `${VS}oxygensat`, category: 'vital-signs',
  },
  temp: { codes: [loinc('8310-5', LOINC_DISPLAY['8310-5']!)], primary: 'temp', profile: `${VS}bodytemp`, category: 'vital-signs' },
  resp: { codes: [loinc('9279-1', LOINC_DISPLAY['9279-1']!)], primary: 'resp', profile: `${VS}resprate`, category: 'vital-signs' },
  bp: { codes: [loinc('85354-9', LOINC_DISPLAY['85354-9']!)], profile: `${VS}bp`, category: 'vital-signs' },
  // Glucose is not an R4 vital sign (the vital-signs category would oblige that profile): a
  // point-of-care blood glucose is a laboratory observation.
  glucose: { codes: [loinc('2339-0', LOINC_DISPLAY['2339-0']!)], primary: 'glucose', category: 'laboratory' },
};

/** RR intervals of a heart-rate reading, one component each, in ms. */
export const RR_CODING = mdc(147240, 'MDC_ECG_TIME_PD_RR_GL');

export interface WaveformMapping { codes: Coding[] }

export const WAVEFORM_MAPPINGS: Partial<Readonly<Record<StreamName, WaveformMapping>>> = {
  ecg: { codes: [mdc(131328, 'MDC_ECG_ELEC_POTL'), loinc('11524-6', LOINC_DISPLAY['11524-6']!)] },
  ppg: { codes: [mdc(150452, 'MDC_PULS_OXIM_PLETH')] },
};

/** How a UCUM code is shown to people (the `unit` beside the machine `code`). */
export const UCUM_DISPLAY: Readonly<Record<string, string>> = {
  '/min': '/min', '%': '%', Cel: 'Cel', 'mm[Hg]': 'mmHg', 'mg/dL': 'mg/dL', ms: 'ms', uV: 'µV', '{count}': '{count}',
};

/** Device classes in the IEEE 11073 PHD IG: a personal health device, and the gateway (PHG). */
export const PHD_DEVICE_TYPE = mdc(65573, 'MDC_MOC_VMS_MDS_SIMP');
export const PHG_DEVICE_TYPE = mdc(531981, 'MDC_MOC_VMS_MDS_AHD');

/** PHD device specializations (MDC_DEV_SPEC_PROFILE_*), for the streams that have one. */
export const DEVICE_SPECIALIZATION: Partial<Readonly<Record<StreamName, Coding>>> = {
  spo2: mdc(528388, 'MDC_DEV_SPEC_PROFILE_PULS_OXIM'),
  ppg: mdc(528388, 'MDC_DEV_SPEC_PROFILE_PULS_OXIM'),
  bp: mdc(528391, 'MDC_DEV_SPEC_PROFILE_BP'),
  temp: mdc(528392, 'MDC_DEV_SPEC_PROFILE_TEMP'),
  glucose: mdc(528401, 'MDC_DEV_SPEC_PROFILE_GLUCOSE'),
};

/**
 * IEEE 11073-20601 SFLOAT/FLOAT special values, named as firmware-bridge's decoders report them.
 * NRes and reserved both become `error` (as the PHD IG maps them); the text keeps the IEEE name so
 * the reverse mapping tells them apart.
 */
export type IeeeSpecial = 'nan' | 'nres' | 'positive-infinity' | 'negative-infinity' | 'reserved';

export const IEEE_SPECIALS: readonly IeeeSpecial[] = ['nan', 'nres', 'positive-infinity', 'negative-infinity', 'reserved'];

export const ABSENT_REASON: Readonly<Record<IeeeSpecial, { coding: Coding; text: string }>> = {
  nan: { coding: { system: DATA_ABSENT_REASON, code: 'not-a-number', display: 'Not a Number (NaN)' }, text: 'NaN' },
  nres: { coding: { system: DATA_ABSENT_REASON, code: 'error', display: 'Error' }, text: 'NRes' },
  'positive-infinity': { coding: { system: DATA_ABSENT_REASON, code: 'positive-infinity', display: 'Positive Infinity (PINF)' }, text: '+INF' },
  'negative-infinity': { coding: { system: DATA_ABSENT_REASON, code: 'negative-infinity', display: 'Negative Infinity (NINF)' }, text: '-INF' },
  reserved: { coding: { system: DATA_ABSENT_REASON, code: 'error', display: 'Error' }, text: 'reserved' },
};
