/**
 * @vitalgate/biosignal: reading recordings and finding beats.
 *
 * wfdb/: a PhysioNet WFDB reader written from the specifications (header(5), signal(5),
 * annotation(5)), with no WFDB library:
 * - parseWfdbHeader / readWfdbHeader: single-segment headers, comments, defaults;
 * - readWfdbRecord / wfdbRecordFromBuffers: signal files in formats 8, 16, 24, 32, 61, 80, 160,
 *   212, 310, 311, multi-frequency frames, shared files, byte offsets, skew; physical units;
 * - wfdbRecordInfo: the `vitalgate wfdb info --json` document, with header and computed checksums;
 * - parseWfdbAnnotations / readWfdbAnnotations: MIT-format annotation files.
 * Bad input throws WfdbError with a message naming the file, line or byte; nothing else is thrown.
 *
 * beats/: heart-beat detection: ECG R peaks and PPG pulses (the key backup's fuzzy vault is locked
 * and unlocked with the inter-pulse intervals they give); scoreBeats measures them against reference
 * annotations; classifySignal tells which signals of a recording carry beats.
 */
export { WfdbError } from './wfdb/errors.js';
export {
  SUPPORTED_FORMATS,
  type WfdbFormat,
  isSupportedFormat,
  invalidSampleValue,
  bytesForSamples,
  samplesInBytes,
  decodeWfdbSamples,
} from './wfdb/formats.js';
export { parseWfdbHeader, DEFAULT_GAIN, DEFAULT_FS, DEFAULT_UNITS, type WfdbHeader, type WfdbSignalSpec } from './wfdb/header.js';
export {
  WfdbRecord,
  readWfdbHeader,
  readWfdbRecord,
  wfdbRecordFromBuffers,
  wfdbChecksum,
  wfdbChecksumsMatch,
  wfdbRecordInfo,
  MAX_HEADER_BYTES,
  DEFAULT_MAX_SAMPLES,
  type ReadRecordOptions,
  type WfdbRecordInfo,
  type WfdbSignalInfo,
} from './wfdb/record.js';
export {
  parseWfdbAnnotations,
  readWfdbAnnotations,
  annotationSymbol,
  isBeatAnnotation,
  MAX_ANNOTATION_BYTES,
  type WfdbAnnotation,
} from './wfdb/annotations.js';

export { detectRPeaks, type RPeakOptions } from './beats/ecg.js';
export { detectPulsePeaks, type PulseOptions, type PulseFiducial } from './beats/ppg.js';
export { scoreBeats, type BeatScore } from './beats/score.js';
export { classifySignal, type SensorKind } from './beats/classify.js';
