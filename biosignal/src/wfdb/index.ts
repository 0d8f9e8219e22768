/**
 * A PhysioNet WFDB reader written from the specifications (header(5), signal(5), annotation(5)),
 * with no WFDB library:
 * - parseWfdbHeader / readWfdbHeader: single-segment headers, comments, defaults;
 * - readWfdbRecord / wfdbRecordFromBuffers: signal files in formats 8, 16, 24, 32, 61, 80, 160,
 *   212, 310, 311, multi-frequency frames, shared files, byte offsets, skew; physical units;
 * - wfdbRecordInfo: the `vitalgate wfdb info --json` document, with header and computed checksums;
 * - parseWfdbAnnotations / readWfdbAnnotations: MIT-format annotation files.
 * Bad input throws WfdbError with a message naming the file, line or byte; nothing else is thrown.
 */
export { WfdbError } from './errors.js';
export {
  SUPPORTED_FORMATS,
  type WfdbFormat,
  isSupportedFormat,
  invalidSampleValue,
  bytesForSamples,
  samplesInBytes,
  decodeWfdbSamples,
} from './formats.js';
export { parseWfdbHeader, DEFAULT_GAIN, DEFAULT_FS, DEFAULT_UNITS, type WfdbHeader, type WfdbSignalSpec } from './header.js';
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
} from './record.js';
export {
  parseWfdbAnnotations,
  readWfdbAnnotations,
  annotationSymbol,
  isBeatAnnotation,
  MAX_ANNOTATION_BYTES,
  type WfdbAnnotation,
} from './annotations.js';
