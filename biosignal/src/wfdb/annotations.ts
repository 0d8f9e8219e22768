import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { WfdbError } from './errors.js';

/** One annotation from an MIT-format annotation file. */
export interface WfdbAnnotation {
  /** Sample number (in frames of the record, at its frame rate). */
  sample: number;
  /** Annotation code (1 = N, 5 = V, ... see annotationSymbol). */
  code: number;
  /** Mnemonic for the code, as WFDB's annstr prints it ("N", "V", "+", "[15]" for unassigned codes). */
  symbol: string;
  subtype: number;
  /** Channel; carried over from the previous annotation unless a CHN word sets it. */
  chan: number;
  /** Annotator number field; carried over from the previous annotation unless a NUM word sets it. */
  num: number;
  /** Auxiliary text (e.g. a rhythm label such as "(N"), present only when the file has an AUX word. */
  aux?: string;
}

/** Largest annotation file read (real ones are kilobytes to a few megabytes). */
export const MAX_ANNOTATION_BYTES = 256 * 1024 * 1024;

const SKIP = 59;
const NUM = 60;
const SUB = 61;
const CHN = 62;
const AUX = 63;

/** WFDB annotation mnemonics by code 0..49 (lib/annot.c); codes with no mnemonic print as "[n]". */
const SYMBOLS: readonly string[] = [
  ' ', 'N', 'L', 'R', 'a', 'V', 'F', 'J', 'A', 'S', // 0-9
  'E', 'j', '/', 'Q', '~', '[15]', '|', '[17]', 's', 'T', // 10-19
  '*', 'D', '"', '=', 'p', 'B', '^', 't', '+', 'u', // 20-29
  '?', '!', '[', ']', 'e', 'n', '@', 'x', 'f', '(', // 30-39
  ')', 'r', // 40-41
];

export function annotationSymbol(code: number): string {
  return SYMBOLS[code] ?? `[${code}]`;
}

/**
 * Codes WFDB's isqrs() counts as beats (lib/ecgmap.h): N L R a V F J A S E j / Q (1-13), B (25),
 * ? (30, beat not classified during learning), ! (31, ventricular flutter wave), e (34), n (35),
 * f (38) and r (41).
 */
const BEAT_CODES: ReadonlySet<number> = new Set([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 25, 30, 31, 34, 35, 38, 41]);

export function isBeatAnnotation(code: number): boolean {
  return BEAT_CODES.has(code);
}

function latin1(bytes: Uint8Array): string {
  let s = '';
  for (const b of bytes) s += String.fromCharCode(b);
  return s;
}

/**
 * Decodes an MIT-format annotation file: little-endian 16-bit words, each a 6-bit code and a
 * 10-bit interval. Codes 59-63 are pseudo-annotations: SKIP (the next two words are a 32-bit
 * interval, high word first), NUM, SUB, CHN (set the field of the annotation they follow; NUM and
 * CHN carry over to later annotations) and AUX (the 8-bit length, then the bytes, padded to even
 * length). A zero word ends the file; a file that simply stops at a word boundary is accepted too.
 * Throws WfdbError for a truncated word, SKIP or AUX, a modifier before any annotation, or a
 * negative sample number.
 */
export function parseWfdbAnnotations(bytes: Uint8Array): WfdbAnnotation[] {
  const out: WfdbAnnotation[] = [];
  const n = bytes.length;
  let pos = 0;
  let time = 0;
  let chan = 0;
  let num = 0;
  let current: WfdbAnnotation | undefined;
  const u16 = (at: number): number => bytes[at]! | (bytes[at + 1]! << 8);
  const need = (count: number, what: string): void => {
    if (pos + count > n) {
      throw new WfdbError(`annotation file is truncated: ${what} at byte ${pos - 2} needs ${count} more bytes, ${n - pos} left`);
    }
  };
  const target = (what: string): WfdbAnnotation => {
    if (current === undefined) throw new WfdbError(`annotation file: ${what} word at byte ${pos - 2} comes before any annotation`);
    return current;
  };

  while (pos < n) {
    need(2, 'the last word');
    const word = u16(pos);
    pos += 2;
    if (word === 0) return out;
    const code = word >> 10;
    const data = word & 0x3ff;
    switch (code) {
      case SKIP: {
        need(4, 'SKIP');
        time += ((u16(pos) << 16) | u16(pos + 2)) | 0;
        pos += 4;
        break;
      }
      case NUM:
        target('NUM').num = num = data;
        break;
      case SUB:
        target('SUB').subtype = data;
        break;
      case CHN:
        target('CHN').chan = chan = data;
        break;
      case AUX: {
        const a = target('AUX');
        const len = data & 0xff;
        need(len + (len & 1), `AUX (${len} bytes)`);
        a.aux = latin1(bytes.subarray(pos, pos + len)).replace(/\0+$/, '');
        pos += len + (len & 1);
        break;
      }
      default: {
        time += data;
        if (time < 0) throw new WfdbError(`annotation file: annotation at byte ${pos - 2} has a negative sample number (${time})`);
        current = { sample: time, code, symbol: annotationSymbol(code), subtype: 0, chan, num };
        out.push(current);
      }
    }
  }
  return out;
}

/** Reads and decodes an MIT-format annotation file (e.g. 100.atr). */
export async function readWfdbAnnotations(annPath: string): Promise<WfdbAnnotation[]> {
  const shown = path.basename(annPath);
  let bytes: Uint8Array;
  try {
    const st = await stat(annPath);
    if (!st.isFile()) throw new WfdbError(`${shown} is not a regular file (${annPath})`, { file: shown });
    if (st.size > MAX_ANNOTATION_BYTES) {
      throw new WfdbError(`${shown} is ${st.size} bytes, more than the ${MAX_ANNOTATION_BYTES}-byte limit for annotation files`, { file: shown });
    }
    bytes = await readFile(annPath);
  } catch (e) {
    if (e instanceof WfdbError) throw e;
    throw new WfdbError(`cannot read ${shown} (${annPath}): ${(e as Error).message}`, { file: shown });
  }
  try {
    return parseWfdbAnnotations(bytes);
  } catch (e) {
    if (e instanceof WfdbError) throw new WfdbError(`${shown}: ${e.message}`, { file: shown });
    throw e;
  }
}
