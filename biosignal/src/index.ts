/**
 * @vitalgate/biosignal: reading recordings and finding beats.
 * - wfdb/: the PhysioNet WFDB reader (headers, signal files, annotations, checksums);
 * - beats/: ECG R peaks (Pan–Tompkins), PPG pulses, which signals carry beats, and scoring against
 *   reference annotations.
 */
export {
  WfdbError,
  SUPPORTED_FORMATS,
  type WfdbFormat,
  isSupportedFormat,
  invalidSampleValue,
  bytesForSamples,
  samplesInBytes,
  decodeWfdbSamples,
  parseWfdbHeader,
  DEFAULT_GAIN,
  DEFAULT_FS,
  DEFAULT_UNITS,
  type WfdbHeader,
  type WfdbSignalSpec,
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
  parseWfdbAnnotations,
  readWfdbAnnotations,
  annotationSymbol,
  isBeatAnnotation,
  MAX_ANNOTATION_BYTES,
  type WfdbAnnotation,
} from './wfdb/index.js';
export {
  detectRPeaks,
  type RPeakOptions,
  detectPulsePeaks,
  type PulseOptions,
  type PulseFiducial,
  scoreBeats,
  type BeatScore,
  classifySignal,
  type SensorKind,
} from './beats/index.js';
