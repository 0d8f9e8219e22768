import { WfdbError } from './errors.js';

/** One signal line of a WFDB header (PhysioNet header(5)), with the library's defaults filled in. */
export interface WfdbSignalSpec {
  /** Signal file, relative to the header's directory. Signals with the same file share it, interleaved. */
  fileName: string;
  /** Storage format number as written (see SUPPORTED_FORMATS for what can be read). */
  format: number;
  /** Samples of this signal in each frame (the `x` suffix; 1 when absent). */
  samplesPerFrame: number;
  /** Skew in samples, as written (the `:` suffix; 0 when absent). */
  skew: number;
  /** Bytes to skip at the start of the signal file (the `+` suffix; 0 when absent). */
  byteOffset: number;
  /** ADC units per physical unit. 200 when the header omits it or gives 0 (uncalibrated). */
  gain: number;
  /** Digital value of physical zero. Defaults to adcZero. */
  baseline: number;
  /** Physical units; "mV" when absent. */
  units: string;
  /** ADC resolution in bits; when absent, inferred from the format (12 otherwise, as WFDB does). */
  adcResolution: number;
  /** ADC value at the middle of its range; 0 when absent. */
  adcZero: number;
  /** Value of the first sample (also the start of format 8 differences); defaults to adcZero. */
  initialValue: number;
  /** 16-bit checksum of all of the signal's samples, as written; undefined when absent. */
  checksum: number | undefined;
  /** Block size in bytes (0: not block-structured). Has no effect on how files are laid out. */
  blockSize: number;
  /** Description; "record R, signal N" when absent, as WFDB does. */
  description: string;
  /** 1-based line of the header this came from. */
  line: number;
}

export interface WfdbHeader {
  record: string;
  nSignals: number;
  /** Frame frequency in Hz (each signal's sample rate is fs × samplesPerFrame); 250 when absent. */
  fs: number;
  counterFreq: number | undefined;
  baseCounter: number | undefined;
  /** Frames in the record; undefined when the header omits it or gives 0 (length set by the files). */
  nSamples: number | undefined;
  baseTime: string | undefined;
  baseDate: string | undefined;
  signals: WfdbSignalSpec[];
  /** Comment text (after '#', trimmed), from comment lines and trailing comments, in order. */
  comments: string[];
}

export const DEFAULT_GAIN = 200;
export const DEFAULT_FS = 250;
export const DEFAULT_UNITS = 'mV';

const INT_RE = /^[+-]?\d+$/;
const FLOAT_RE = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;
const RECORD_NAME_RE = /^[\w-]+$/;
const FORMAT_RE = /^(\d+)(?:x(\d+))?(?::(\d+))?(?:\+(\d+))?$/;
const TIME_RE = /^\d{1,2}(?::\d{1,2}){0,2}(?:\.\d+)?$/;
const DATE_RE = /^\d{1,2}\/\d{1,2}\/\d{1,4}$/;

/** User text quoted in an error message, cut short so a hostile file cannot make huge messages. */
export function clip(text: string, max = 60): string {
  return text.length <= max ? text : `${text.slice(0, max)}…`;
}

function fail(line: number, message: string): never {
  throw new WfdbError(`header line ${line}: ${message}`, { line });
}

function parseIntField(text: string, what: string, line: number, min = Number.MIN_SAFE_INTEGER): number {
  const v = INT_RE.test(text) ? Number(text) : NaN;
  if (!Number.isSafeInteger(v)) fail(line, `${what} '${clip(text)}' is not an integer`);
  if (v < min) fail(line, `${what} ${v} is below ${min}`);
  return v;
}

function parseFloatField(text: string, what: string, line: number): number {
  const v = FLOAT_RE.test(text) ? Number(text) : NaN;
  if (!Number.isFinite(v)) fail(line, `${what} '${clip(text)}' is not a number`);
  return v;
}

/** Splits on whitespace, remembering where each token starts (the description is the rest of the line). */
function tokenize(text: string): { text: string; start: number }[] {
  const out: { text: string; start: number }[] = [];
  const re = /\S+/g;
  for (let m = re.exec(text); m !== null; m = re.exec(text)) out.push({ text: m[0], start: m.index });
  return out;
}

/**
 * A signal file name must stay inside the header's directory: a relative path of plain
 * components, no '..', no absolute path, no backslashes ('-', standard input, is not supported).
 */
function checkFileName(name: string, line: number): void {
  const parts = name.split('/');
  const ok =
    name !== '-' &&
    !name.includes('\\') &&
    !name.includes('\0') &&
    parts.every((p) => p !== '' && p !== '.' && p !== '..');
  if (!ok) fail(line, `signal file name '${clip(name)}' must be a relative path inside the record's directory`);
}

function parseRecordLine(text: string, line: number): Omit<WfdbHeader, 'signals' | 'comments'> {
  const t = tokenize(text).map((x) => x.text);
  const [nameTok, nsigTok, fsTok, nsampTok, timeTok, dateTok, ...extra] = t;
  if (nameTok === undefined) fail(line, 'missing record name');
  if (nameTok.includes('/')) {
    fail(line, `multi-segment records ('${clip(nameTok)}') are not supported`);
  }
  if (!RECORD_NAME_RE.test(nameTok)) fail(line, `invalid record name '${clip(nameTok)}' (letters, digits, '_' and '-' only)`);
  if (nsigTok === undefined) fail(line, `record line has no signal count (old-style headers are not supported)`);
  const nSignals = parseIntField(nsigTok, 'number of signals', line, 0);

  let fs = DEFAULT_FS;
  let counterFreq: number | undefined;
  let baseCounter: number | undefined;
  if (fsTok !== undefined) {
    const m = /^([^/(]*)(?:\/([^/(]*)(?:\(([^()]*)\))?)?$/.exec(fsTok);
    if (!m) fail(line, `invalid sampling frequency field '${clip(fsTok)}' (expected fs[/counterfreq[(basecounter)]])`);
    fs = parseFloatField(m[1] ?? '', 'sampling frequency', line);
    if (!(fs > 0)) fail(line, `sampling frequency must be positive, got ${fs}`);
    if (m[2] !== undefined) {
      counterFreq = parseFloatField(m[2], 'counter frequency', line);
      if (!(counterFreq > 0)) fail(line, `counter frequency must be positive, got ${counterFreq}`);
    }
    if (m[3] !== undefined) baseCounter = parseFloatField(m[3], 'base counter value', line);
  }

  let nSamples: number | undefined;
  if (nsampTok !== undefined) {
    const n = parseIntField(nsampTok, 'number of samples', line, 0);
    nSamples = n === 0 ? undefined : n;
  }
  if (timeTok !== undefined && !TIME_RE.test(timeTok)) fail(line, `invalid base time '${clip(timeTok)}' (expected HH:MM:SS)`);
  if (dateTok !== undefined && !DATE_RE.test(dateTok)) fail(line, `invalid base date '${clip(dateTok)}' (expected DD/MM/YYYY)`);
  if (extra.length > 0) fail(line, `unexpected text after the base date: '${clip(extra.join(' '))}'`);
  return { record: nameTok, nSignals, fs, counterFreq, baseCounter, nSamples, baseTime: timeTok, baseDate: dateTok };
}

function defaultResolution(format: number): number {
  switch (format) {
    case 80:
      return 8;
    case 160:
      return 16;
    case 212:
      return 12;
    case 310:
    case 311:
      return 10;
    default:
      return 12;
  }
}

function parseSignalLine(text: string, line: number, record: string, index: number): WfdbSignalSpec {
  const t = tokenize(text);
  const tok = (i: number): string | undefined => t[i]?.text;
  const fileName = tok(0);
  if (fileName === undefined) fail(line, 'missing signal file name');
  checkFileName(fileName, line);

  const formatTok = tok(1);
  if (formatTok === undefined) fail(line, `signal ${index} has no format field`);
  const fm = FORMAT_RE.exec(formatTok);
  if (!fm) fail(line, `invalid format field '${clip(formatTok)}' (expected format[xspf][:skew][+offset], e.g. 212, 16x4, 16:2, 16+512)`);
  const format = parseIntField(fm[1] ?? '', 'format', line, 0);
  const samplesPerFrame = fm[2] === undefined ? 1 : parseIntField(fm[2], 'samples per frame', line, 1);
  const skew = fm[3] === undefined ? 0 : parseIntField(fm[3], 'skew', line, 0);
  const byteOffset = fm[4] === undefined ? 0 : parseIntField(fm[4], 'byte offset', line, 0);

  let gain = DEFAULT_GAIN;
  let baseline: number | undefined;
  let units = DEFAULT_UNITS;
  const gainTok = tok(2);
  if (gainTok !== undefined) {
    const gm = /^([^(/]*)(?:\(([^()]*)\))?(?:\/(.*))?$/.exec(gainTok);
    if (!gm) fail(line, `invalid gain field '${clip(gainTok)}' (expected gain[(baseline)][/units])`);
    const g = parseFloatField(gm[1] ?? '', 'ADC gain', line);
    gain = g === 0 ? DEFAULT_GAIN : g;
    if (gm[2] !== undefined) baseline = parseIntField(gm[2], 'baseline', line);
    // As in WFDB, "200/" (empty units) means the default units.
    if (gm[3] !== undefined && gm[3] !== '') units = gm[3];
  }
  const resTok = tok(3);
  const adcResolution = resTok === undefined ? defaultResolution(format) : parseIntField(resTok, 'ADC resolution', line, 0);
  const zeroTok = tok(4);
  const adcZero = zeroTok === undefined ? 0 : parseIntField(zeroTok, 'ADC zero', line);
  const initTok = tok(5);
  const initialValue = initTok === undefined ? adcZero : parseIntField(initTok, 'initial value', line);
  const sumTok = tok(6);
  const checksum = sumTok === undefined ? undefined : parseIntField(sumTok, 'checksum', line);
  const bsTok = tok(7);
  const blockSize = bsTok === undefined ? 0 : parseIntField(bsTok, 'block size', line, 0);
  const descStart = t[8]?.start;
  const description = descStart === undefined ? `record ${record}, signal ${index}` : text.slice(descStart).trimEnd();

  return {
    fileName,
    format,
    samplesPerFrame,
    skew,
    byteOffset,
    gain,
    baseline: baseline ?? adcZero,
    units,
    adcResolution,
    adcZero,
    initialValue,
    checksum,
    blockSize,
    description,
    line,
  };
}

/**
 * Parses the text of a WFDB header (.hea) for a single-segment record.
 *
 * Blank lines are skipped. '#' starts a comment, on a line of its own or after the fields of a
 * record or signal line; comment texts are collected in order. The first other line is the record
 * line, the next nSignals lines are signal lines; anything else is an error. Throws WfdbError
 * naming the line.
 */
export function parseWfdbHeader(text: string): WfdbHeader {
  const comments: string[] = [];
  const content: { text: string; line: number }[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    let l = lines[i]!;
    const hash = l.indexOf('#');
    if (hash >= 0) {
      comments.push(l.slice(hash + 1).trim());
      l = l.slice(0, hash);
    }
    if (l.trim() !== '') content.push({ text: l, line: i + 1 });
  }
  const first = content[0];
  if (first === undefined) throw new WfdbError('header has no record line');
  const rec = parseRecordLine(first.text, first.line);
  const signals: WfdbSignalSpec[] = [];
  for (let s = 0; s < rec.nSignals; s++) {
    const l = content[s + 1];
    if (l === undefined) {
      throw new WfdbError(`header declares ${rec.nSignals} signals but has ${s} signal line${s === 1 ? '' : 's'}`);
    }
    signals.push(parseSignalLine(l.text, l.line, rec.record, s));
  }
  const extra = content[rec.nSignals + 1];
  if (extra !== undefined) {
    fail(extra.line, `unexpected line after the ${rec.nSignals} signal lines: '${clip(extra.text.trim())}'`);
  }
  return { ...rec, signals, comments };
}
