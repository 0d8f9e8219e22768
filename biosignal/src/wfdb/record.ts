import { open, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { WfdbError } from './errors.js';
import { assertSupportedFormat, bytesForSamples, decodeWfdbSamples, invalidSampleValue, samplesInBytes, type WfdbFormat } from './formats.js';
import { clip, parseWfdbHeader, type WfdbHeader, type WfdbSignalSpec } from './header.js';

/** Largest header file read (real ones are a few hundred bytes). */
export const MAX_HEADER_BYTES = 1 << 20;
/** Default cap on the samples (all signals) a record may decode to: 256 MiB of Int32. */
export const DEFAULT_MAX_SAMPLES = 64 * 1024 * 1024;

export interface ReadRecordOptions {
  /** Refuse records with more samples than this, over all signals (default DEFAULT_MAX_SAMPLES). */
  maxSamples?: number;
}

/**
 * 16-bit sum of samples, as WFDB computes the header checksum, returned as a signed 16-bit value
 * (-32768..32767) like the headers write it.
 */
export function wfdbChecksum(samples: ArrayLike<number>): number {
  let sum = 0;
  for (let i = 0; i < samples.length; i++) sum = (sum + samples[i]!) & 0xffff;
  return sum >= 0x8000 ? sum - 0x10000 : sum;
}

/** Whether two checksums agree modulo 2^16 (a header may write the sum signed or unsigned). */
export function wfdbChecksumsMatch(a: number, b: number): boolean {
  return ((a - b) & 0xffff) === 0;
}

/** A decoded record: the header plus every signal's digital samples. */
export class WfdbRecord {
  constructor(
    readonly header: WfdbHeader,
    /** Frames in the record: the header's count, or what the files hold when the header has none. */
    readonly nFrames: number,
    /**
     * Digital samples per signal, nFrames × samplesPerFrame each, with skew applied (a signal with
     * skew k samples starts k samples into its file; positions past the end of the file hold the
     * format's invalid value).
     */
    readonly digital: Int32Array[],
    /**
     * Checksum of each signal's first nFrames × samplesPerFrame samples as stored (before any
     * skew is applied), which is what the header's checksum covers.
     */
    readonly checksums: number[],
  ) {}

  private spec(signal: number): WfdbSignalSpec & { format: WfdbFormat } {
    const s = this.header.signals[signal];
    if (s === undefined || !Number.isInteger(signal)) {
      throw new WfdbError(`signal ${signal} does not exist (record ${clip(this.header.record)} has ${this.header.signals.length})`);
    }
    return s as WfdbSignalSpec & { format: WfdbFormat };
  }

  /** Samples per second of one signal: the frame rate times its samples per frame. */
  sampleRate(signal: number): number {
    return this.header.fs * this.spec(signal).samplesPerFrame;
  }

  /** The value that marks an invalid sample of this signal (its physical value is NaN). */
  invalidValue(signal: number): number {
    return invalidSampleValue(this.spec(signal).format);
  }

  /** Physical value of sample i: (digital - baseline) / gain, NaN for an invalid sample. */
  toPhysical(signal: number, i: number): number {
    const s = this.spec(signal);
    const d = this.digital[signal]![i];
    if (d === undefined) throw new WfdbError(`sample ${i} of signal ${signal} does not exist (it has ${this.digital[signal]!.length})`);
    return d === invalidSampleValue(s.format) ? NaN : (d - s.baseline) / s.gain;
  }

  /** All of a signal's samples in physical units (NaN where invalid). */
  physical(signal: number): Float64Array {
    const s = this.spec(signal);
    const d = this.digital[signal]!;
    const invalid = invalidSampleValue(s.format);
    const out = new Float64Array(d.length);
    for (let i = 0; i < d.length; i++) out[i] = d[i] === invalid ? NaN : (d[i]! - s.baseline) / s.gain;
    return out;
  }
}

/** The signals stored in one file, in header order, and how that file is laid out. */
interface FileGroup {
  fileName: string;
  format: WfdbFormat;
  byteOffset: number;
  /** Indices into header.signals. */
  signals: number[];
  /** Samples of all its signals in one frame. */
  frameSamples: number;
  /** Largest skew of its signals, in frames. */
  maxSkewFrames: number;
}

function skewFrames(s: WfdbSignalSpec): number {
  // The header gives skew in samples; WFDB deskews to the nearest frame.
  return Math.floor(s.skew / s.samplesPerFrame + 0.5);
}

/** Groups signals by file name (header order) and checks that each file's signals agree. */
function fileGroups(header: WfdbHeader): FileGroup[] {
  const groups = new Map<string, FileGroup>();
  header.signals.forEach((s, i) => {
    const where = { line: s.line };
    assertSupportedFormat(s.format, `header line ${s.line}: `, where);
    const g = groups.get(s.fileName);
    if (g === undefined) {
      groups.set(s.fileName, {
        fileName: s.fileName,
        format: s.format,
        byteOffset: s.byteOffset,
        signals: [i],
        frameSamples: s.samplesPerFrame,
        maxSkewFrames: skewFrames(s),
      });
      return;
    }
    const first = header.signals[g.signals[0]!]!;
    if (s.format !== g.format) {
      throw new WfdbError(`header line ${s.line}: signal ${i} is format ${s.format} but shares ${clip(s.fileName, 200)} with signal ${g.signals[0]} in format ${g.format}`, where);
    }
    if (s.byteOffset !== g.byteOffset) {
      throw new WfdbError(`header line ${s.line}: signal ${i} has byte offset ${s.byteOffset} but shares ${clip(s.fileName, 200)} with signal ${g.signals[0]} at offset ${g.byteOffset}`, where);
    }
    if (s.blockSize !== first.blockSize) {
      throw new WfdbError(`header line ${s.line}: signal ${i} has block size ${s.blockSize} but shares ${clip(s.fileName, 200)} with signal ${g.signals[0]} with block size ${first.blockSize}`, where);
    }
    g.signals.push(i);
    g.frameSamples += s.samplesPerFrame;
    g.maxSkewFrames = Math.max(g.maxSkewFrames, skewFrames(s));
  });
  return [...groups.values()];
}

/** Frames a file of `size` bytes holds after its byte offset. */
function framesIn(g: FileGroup, size: number): number {
  if (size < g.byteOffset) {
    throw new WfdbError(`${clip(g.fileName, 200)}: byte offset ${g.byteOffset} is past the end of the file (${size} bytes)`, { file: g.fileName });
  }
  return Math.floor(samplesInBytes(g.format, size - g.byteOffset) / g.frameSamples);
}

interface Plan {
  nFrames: number;
  /** Per group: frames to decode (nFrames plus whatever of the skew read-ahead the file holds). */
  storedFrames: number[];
}

function plan(header: WfdbHeader, groups: FileGroup[], sizes: number[], maxSamples: number): Plan {
  const available = groups.map((g, k) => framesIn(g, sizes[k]!));
  let nFrames: number;
  if (header.nSamples !== undefined) {
    nFrames = header.nSamples;
    groups.forEach((g, k) => {
      const expected = g.byteOffset + bytesForSamples(g.format, nFrames * g.frameSamples);
      if (sizes[k]! < expected) {
        throw new WfdbError(
          `${clip(g.fileName, 200)} is truncated: expected at least ${expected} bytes ` +
            `(${nFrames} frames × ${g.frameSamples} samples in format ${g.format}` +
            `${g.byteOffset > 0 ? ` after a ${g.byteOffset}-byte offset` : ''}), found ${sizes[k]}`,
          { file: g.fileName },
        );
      }
    });
  } else {
    nFrames = available.length === 0 ? 0 : available.reduce((a, b) => Math.min(a, b));
  }
  const totalSpf = header.signals.reduce((a, s) => a + s.samplesPerFrame, 0);
  if (nFrames * totalSpf > maxSamples) {
    throw new WfdbError(
      `record ${clip(header.record)} is too large: ${nFrames} frames × ${totalSpf} samples exceeds the limit of ${maxSamples} samples`,
    );
  }
  return { nFrames, storedFrames: groups.map((g, k) => Math.min(nFrames + g.maxSkewFrames, available[k]!)) };
}

/** Splits one file's decoded stream into its signals, integrates format 8, computes checksums, deskews. */
function assembleGroup(
  header: WfdbHeader,
  g: FileGroup,
  stream: Int32Array,
  storedFrames: number,
  nFrames: number,
  digital: Int32Array[],
  checksums: number[],
): void {
  const invalid = invalidSampleValue(g.format);
  let col = 0;
  for (const si of g.signals) {
    const s = header.signals[si]!;
    const spf = s.samplesPerFrame;
    const stored = new Int32Array(storedFrames * spf);
    let prev = s.initialValue;
    for (let f = 0, o = 0; f < storedFrames; f++) {
      const base = f * g.frameSamples + col;
      for (let c = 0; c < spf; c++, o++) {
        const v = stream[base + c]!;
        if (g.format === 8) {
          prev = (prev + v) | 0;
          stored[o] = prev;
        } else {
          stored[o] = v;
        }
      }
    }
    col += spf;
    const n = nFrames * spf;
    checksums[si] = wfdbChecksum(stored.subarray(0, n));
    const shift = skewFrames(s) * spf;
    if (shift === 0 && stored.length === n) {
      digital[si] = stored;
    } else {
      const out = new Int32Array(n).fill(invalid);
      out.set(stored.subarray(shift, Math.min(stored.length, shift + n)));
      digital[si] = out;
    }
  }
}

/**
 * Builds a record from a parsed header and the full contents of its signal files (keyed by the
 * file names the header uses). Pure; readWfdbRecord does the same reading only the bytes it needs.
 */
export function wfdbRecordFromBuffers(
  header: WfdbHeader,
  files: ReadonlyMap<string, Uint8Array> | Readonly<Record<string, Uint8Array>>,
  options: ReadRecordOptions = {},
): WfdbRecord {
  const get = (name: string): Uint8Array | undefined =>
    files instanceof Map ? files.get(name) : Object.hasOwn(files, name) ? (files as Record<string, Uint8Array>)[name] : undefined;
  const groups = fileGroups(header);
  const buffers = groups.map((g) => {
    const b = get(g.fileName);
    if (b === undefined) throw new WfdbError(`signal file ${clip(g.fileName, 200)} was not provided`, { file: g.fileName });
    return b;
  });
  const p = plan(header, groups, buffers.map((b) => b.length), options.maxSamples ?? DEFAULT_MAX_SAMPLES);
  const digital: Int32Array[] = [];
  const checksums: number[] = [];
  groups.forEach((g, k) => {
    const count = p.storedFrames[k]! * g.frameSamples;
    const stream = decodeWfdbSamples(g.format, buffers[k]!.subarray(g.byteOffset), count);
    assembleGroup(header, g, stream, p.storedFrames[k]!, p.nFrames, digital, checksums);
  });
  return new WfdbRecord(header, p.nFrames, digital, checksums);
}

async function fileSize(file: string, shown: string): Promise<number> {
  try {
    const st = await stat(file);
    if (!st.isFile()) throw new WfdbError(`${shown} is not a regular file (${file})`, { file: shown });
    return st.size;
  } catch (e) {
    if (e instanceof WfdbError) throw e;
    throw new WfdbError(`cannot read ${shown} (${file}): ${(e as Error).message}`, { file: shown });
  }
}

async function readRange(file: string, shown: string, start: number, length: number): Promise<Uint8Array> {
  const buf = new Uint8Array(length);
  let fh;
  try {
    fh = await open(file, 'r');
  } catch (e) {
    throw new WfdbError(`cannot open ${shown} (${file}): ${(e as Error).message}`, { file: shown });
  }
  try {
    let done = 0;
    while (done < length) {
      const { bytesRead } = await fh.read(buf, done, length - done, start + done);
      if (bytesRead === 0) {
        throw new WfdbError(`${shown} is truncated: expected ${start + length} bytes, found ${start + done}`, { file: shown });
      }
      done += bytesRead;
    }
    return buf;
  } finally {
    await fh.close();
  }
}

/** Reads and parses a header file (size-limited). */
export async function readWfdbHeader(heaPath: string): Promise<WfdbHeader> {
  const shown = path.basename(heaPath);
  const size = await fileSize(heaPath, shown);
  if (size > MAX_HEADER_BYTES) throw new WfdbError(`${shown} is ${size} bytes; a header larger than ${MAX_HEADER_BYTES} bytes is not plausible`, { file: shown });
  let text: string;
  try {
    text = await readFile(heaPath, 'utf8');
  } catch (e) {
    throw new WfdbError(`cannot read ${shown} (${heaPath}): ${(e as Error).message}`, { file: shown });
  }
  try {
    return parseWfdbHeader(text);
  } catch (e) {
    if (e instanceof WfdbError) throw new WfdbError(`${shown}: ${e.message}`, { file: shown, ...(e.line === undefined ? {} : { line: e.line }) });
    throw e;
  }
}

/**
 * Reads a record: its header and every signal file it names (resolved relative to the header's
 * directory). Checks sizes before reading and reads only the bytes the record uses.
 */
export async function readWfdbRecord(heaPath: string, options: ReadRecordOptions = {}): Promise<WfdbRecord> {
  const header = await readWfdbHeader(heaPath);
  const dir = path.dirname(heaPath);
  const groups = fileGroups(header);
  const paths = groups.map((g) => path.resolve(dir, g.fileName));
  const sizes: number[] = [];
  for (let k = 0; k < groups.length; k++) sizes.push(await fileSize(paths[k]!, clip(groups[k]!.fileName, 200)));
  const p = plan(header, groups, sizes, options.maxSamples ?? DEFAULT_MAX_SAMPLES);
  const digital: Int32Array[] = [];
  const checksums: number[] = [];
  for (let k = 0; k < groups.length; k++) {
    const g = groups[k]!;
    const count = p.storedFrames[k]! * g.frameSamples;
    const bytes = await readRange(paths[k]!, clip(g.fileName, 200), g.byteOffset, bytesForSamples(g.format, count));
    assembleGroup(header, g, decodeWfdbSamples(g.format, bytes, count), p.storedFrames[k]!, p.nFrames, digital, checksums);
  }
  return new WfdbRecord(header, p.nFrames, digital, checksums);
}

/** One signal in the `vitalgate wfdb info --json` output. */
export interface WfdbSignalInfo {
  description: string;
  format: number;
  samplesPerFrame: number;
  gain: number;
  baseline: number;
  units: string;
  initialValue: number;
  /** From the header; null when the header has none. */
  checksum: number | null;
  /** 16-bit two's-complement sum of all the signal's samples (signed, like the header's). */
  computedChecksum: number;
  /** The first 5 digital samples (fewer if the signal is shorter). */
  first: number[];
}

/** The `vitalgate wfdb info <record.hea> --json` document. */
export interface WfdbRecordInfo {
  record: string;
  fs: number;
  /** Frames in the record. */
  samples: number;
  signals: WfdbSignalInfo[];
}

export function wfdbRecordInfo(rec: WfdbRecord): WfdbRecordInfo {
  return {
    record: rec.header.record,
    fs: rec.header.fs,
    samples: rec.nFrames,
    signals: rec.header.signals.map((s, i) => ({
      description: s.description,
      format: s.format,
      samplesPerFrame: s.samplesPerFrame,
      gain: s.gain,
      baseline: s.baseline,
      units: s.units,
      initialValue: s.initialValue,
      checksum: s.checksum ?? null,
      computedChecksum: rec.checksums[i]!,
      first: Array.from(rec.digital[i]!.subarray(0, 5)),
    })),
  };
}
