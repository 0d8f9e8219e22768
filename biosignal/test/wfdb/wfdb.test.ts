import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import {
  SUPPORTED_FORMATS,
  WfdbError,
  annotationSymbol,
  bytesForSamples,
  decodeWfdbSamples,
  invalidSampleValue,
  isBeatAnnotation,
  parseWfdbAnnotations,
  parseWfdbHeader,
  readWfdbAnnotations,
  readWfdbRecord,
  samplesInBytes,
  wfdbChecksum,
  wfdbChecksumsMatch,
  wfdbRecordFromBuffers,
  wfdbRecordInfo,
  type WfdbAnnotation,
  type WfdbRecord,
} from '../../src/index.js';
import { encodeWfdbSamples } from '../../src/wfdb/encode.js';

// The records live in the shared data folder next to the repository; never copied into it.
const PHYSIONET = fileURLToPath(new URL('../../../../../shared/data/physionet/', import.meta.url));
const physionet = (name: string): string => path.join(PHYSIONET, name);

/** Runs fn and requires it to throw a WfdbError whose message matches `re`. */
async function rejectsWfdb(fn: () => unknown, re: RegExp): Promise<WfdbError> {
  try {
    await fn();
  } catch (e) {
    assert.ok(e instanceof WfdbError, `expected WfdbError, got ${String(e)}`);
    assert.match(e.message, re);
    return e;
  }
  assert.fail(`expected a WfdbError matching ${re}`);
}

/** Calls fn; anything thrown must be a WfdbError (never TypeError, RangeError, ...). */
function onlyWfdbErrors(fn: () => unknown): void {
  try {
    fn();
  } catch (e) {
    if (!(e instanceof WfdbError)) throw e;
    assert.ok(e.message.length > 0);
  }
}

let tmp: string;
before(() => {
  tmp = mkdtempSync(path.join(os.tmpdir(), 'vitalgate-wfdb-'));
});
after(() => {
  rmSync(tmp, { recursive: true, force: true });
});

/** Writes a record into its own temp folder and returns the header's path. */
function writeRecord(header: string, files: Record<string, Uint8Array>): string {
  const d = mkdtempSync(path.join(tmp, 'rec-'));
  for (const [name, bytes] of Object.entries(files)) writeFileSync(path.join(d, name), bytes);
  const hea = path.join(d, 'rec.hea');
  writeFileSync(hea, header);
  return hea;
}

/** Interleaves per-signal samples into frames: signals[s] has nFrames × spf[s] samples. */
function interleave(signals: number[][], spf: number[], nFrames: number): number[] {
  const out: number[] = [];
  for (let f = 0; f < nFrames; f++) {
    signals.forEach((sig, s) => {
      for (let c = 0; c < spf[s]!; c++) out.push(sig[f * spf[s]! + c]!);
    });
  }
  return out;
}

describe('WFDB: shared PhysioNet records', () => {
  const records: Record<string, WfdbRecord> = {};
  before(async () => {
    for (const r of ['100', 'v102s', 'test01_00s']) records[r] = await readWfdbRecord(physionet(`${r}.hea`));
  });

  for (const r of ['100', 'v102s', 'test01_00s']) {
    it(`${r}: every signal's computed checksum equals the header's, and starts at its initial value`, () => {
      const rec = records[r]!;
      const info = wfdbRecordInfo(rec);
      assert.ok(info.signals.length > 0);
      info.signals.forEach((s, i) => {
        assert.equal(typeof s.checksum, 'number', `signal ${i} has a header checksum`);
        assert.equal(s.computedChecksum, s.checksum, `signal ${i} (${s.description}) checksum`);
        assert.equal(wfdbChecksum(rec.digital[i]!), s.checksum);
        assert.equal(s.first.length, 5);
        assert.equal(s.first[0], s.initialValue, `signal ${i} first sample equals the initial value`);
        assert.deepEqual(s.first, Array.from(rec.digital[i]!.subarray(0, 5)));
        assert.equal(rec.digital[i]!.length, info.samples * s.samplesPerFrame);
      });
    });

    it(`${r}: reading from buffers gives the same record as reading the files`, () => {
      const rec = records[r]!;
      const files = new Map<string, Uint8Array>();
      for (const s of rec.header.signals) files.set(s.fileName, readFileSync(physionet(s.fileName)));
      const again = wfdbRecordFromBuffers(parseWfdbHeader(readFileSync(physionet(`${r}.hea`), 'utf8')), files);
      assert.deepEqual(wfdbRecordInfo(again), wfdbRecordInfo(rec));
      again.digital.forEach((d, i) => assert.ok(Buffer.from(d.buffer, d.byteOffset, d.byteLength).equals(Buffer.from(rec.digital[i]!.buffer, rec.digital[i]!.byteOffset, rec.digital[i]!.byteLength))));
    });
  }

  it('100: MIT-BIH, 650000 frames at 360 Hz, MLII and V5 in format 212 with gain 200, comments kept', () => {
    const rec = records['100']!;
    const info = wfdbRecordInfo(rec);
    assert.deepEqual(Object.keys(info), ['record', 'fs', 'samples', 'signals']);
    assert.deepEqual(Object.keys(info.signals[0]!), [
      'description', 'format', 'samplesPerFrame', 'gain', 'baseline', 'units', 'initialValue', 'checksum', 'computedChecksum', 'first',
    ]);
    assert.equal(info.record, '100');
    assert.equal(info.fs, 360);
    assert.equal(info.samples, 650000);
    assert.deepEqual(info.signals.map((s) => s.description), ['MLII', 'V5']);
    assert.deepEqual(info.signals.map((s) => [s.format, s.gain, s.baseline, s.units, s.samplesPerFrame]), [
      [212, 200, 1024, 'mV', 1],
      [212, 200, 1024, 'mV', 1],
    ]);
    assert.deepEqual(info.signals.map((s) => s.computedChecksum), [-22131, 20052]);
    assert.deepEqual(rec.header.comments, ['unnecessary comment', '69 M 1085 1629 x1', 'Aldomet, Inderal']);
    assert.equal(rec.sampleRate(0), 360);
    // JSON round trip is lossless (what `vitalgate wfdb info --json` prints).
    assert.deepEqual(JSON.parse(JSON.stringify(info)), info);
  });

  it('100: physical values are (digital - baseline) / gain, in a plausible ECG range', () => {
    const rec = records['100']!;
    assert.equal(rec.toPhysical(0, 0), (995 - 1024) / 200);
    assert.equal(rec.toPhysical(1, 0), (1011 - 1024) / 200);
    const mlii = rec.physical(0);
    assert.equal(mlii.length, 650000);
    for (const i of [0, 1000, 123456, 649999]) assert.equal(mlii[i], (rec.digital[0]![i]! - 1024) / 200);
    let min = Infinity;
    let max = -Infinity;
    for (const v of mlii) (min = Math.min(min, v)), (max = Math.max(max, v));
    assert.ok(min > -5 && max < 5 && max - min > 1, `MLII range ${min}..${max} mV`);
  });

  it('v102s: II, V, PLETH and RESP at 250 Hz for 5 minutes, units and gains from the header', () => {
    const rec = records['v102s']!;
    const info = wfdbRecordInfo(rec);
    assert.equal(info.fs, 250);
    assert.equal(info.samples, 75000);
    assert.deepEqual(info.signals.map((s) => s.description), ['II', 'V', 'PLETH', 'RESP']);
    assert.deepEqual(info.signals.map((s) => s.units), ['mV', 'mV', 'NU', 'NU']);
    assert.deepEqual(info.signals.map((s) => s.gain), [2281, 1856, 1250, 38880]);
    assert.deepEqual(info.signals.map((s) => s.computedChecksum), [-9286, 2647, -11021, 12236]);
    assert.deepEqual(rec.header.comments, ['Ventricular_Tachycardia', 'False alarm']);
    assert.equal(rec.toPhysical(2, 1), 1410 / 1250);
  });

  it('test01_00s: 4 ECG leads in format 16 at 500 Hz for 8 s, descriptions with spaces', () => {
    const rec = records['test01_00s']!;
    const info = wfdbRecordInfo(rec);
    assert.equal(info.fs, 500);
    assert.equal(info.samples, 4000);
    assert.deepEqual(info.signals.map((s) => s.format), [16, 16, 16, 16]);
    assert.deepEqual(info.signals.map((s) => s.description), ['ECG 1', 'ECG 2', 'ECG 3', 'ECG 4']);
    assert.deepEqual(info.signals.map((s) => s.computedChecksum), [114, 941, -119, -401]);
    assert.equal(rec.toPhysical(0, 0), 0.1);
  });
});

describe('WFDB: MIT annotations (100.atr)', () => {
  let anns: WfdbAnnotation[];
  before(async () => {
    anns = await readWfdbAnnotations(physionet('100.atr'));
  });

  it('has 2273 beats: 2239 N, 33 A and 1 V, plus one rhythm annotation "(N"', () => {
    assert.equal(anns.length, 2274);
    const beats = anns.filter((a) => isBeatAnnotation(a.code));
    assert.equal(beats.length, 2273);
    const bySymbol = new Map<string, number>();
    for (const a of anns) bySymbol.set(a.symbol, (bySymbol.get(a.symbol) ?? 0) + 1);
    assert.deepEqual(Object.fromEntries(bySymbol), { '+': 1, N: 2239, A: 33, V: 1 });
    const rhythm = anns.filter((a) => a.aux !== undefined);
    assert.deepEqual(rhythm, [{ sample: 18, code: 28, symbol: '+', subtype: 0, chan: 0, num: 0, aux: '(N' }]);
  });

  it('samples increase and stay inside the record; codes map to their symbols', () => {
    assert.deepEqual(anns.slice(0, 4).map((a) => [a.sample, a.symbol]), [[18, '+'], [77, 'N'], [370, 'N'], [662, 'N']]);
    for (let i = 1; i < anns.length; i++) assert.ok(anns[i]!.sample > anns[i - 1]!.sample, `annotation ${i} after ${i - 1}`);
    assert.ok(anns.at(-1)!.sample < 650000);
    for (const a of anns) assert.equal(a.symbol, annotationSymbol(a.code));
    // Mean RR in MLII (~75 bpm in record 100) as a sanity check of the sample numbers.
    const beats = anns.filter((a) => isBeatAnnotation(a.code));
    const meanRr = (beats.at(-1)!.sample - beats[0]!.sample) / (beats.length - 1) / 360;
    assert.ok(meanRr > 0.7 && meanRr < 0.9, `mean RR ${meanRr} s`);
  });

  it('symbol table and isqrs beat set follow WFDB', () => {
    const table: Record<number, string> = {
      1: 'N', 2: 'L', 3: 'R', 4: 'a', 5: 'V', 6: 'F', 7: 'J', 8: 'A', 9: 'S', 10: 'E', 11: 'j', 12: '/', 13: 'Q', 14: '~',
      16: '|', 18: 's', 19: 'T', 20: '*', 21: 'D', 22: '"', 23: '=', 24: 'p', 25: 'B', 26: '^', 27: 't', 28: '+', 29: 'u',
      30: '?', 31: '!', 32: '[', 33: ']', 34: 'e', 35: 'n', 36: '@', 37: 'x', 38: 'f', 39: '(', 40: ')', 41: 'r',
    };
    for (const [code, sym] of Object.entries(table)) assert.equal(annotationSymbol(Number(code)), sym);
    assert.equal(annotationSymbol(15), '[15]');
    assert.equal(annotationSymbol(50), '[50]');
    const beats = [...Array(64).keys()].filter(isBeatAnnotation).map(annotationSymbol).join('');
    assert.equal(beats, 'NLRaVFJASEj/QB?!enfr');
  });
});

/** MIT-format writer mirroring WFDB's putann, for round trips. */
function writeAnnotations(anns: readonly WfdbAnnotation[]): Uint8Array {
  const bytes: number[] = [];
  const w16 = (w: number): void => {
    bytes.push(w & 0xff, (w >> 8) & 0xff);
  };
  const w32 = (v: number): void => {
    w16((v >> 16) & 0xffff);
    w16(v & 0xffff);
  };
  let t = 0;
  let chan = 0;
  let num = 0;
  for (const a of anns) {
    let delta = a.sample - t;
    if (a.code === 0) {
      w16(59 << 10);
      w32(delta - 1);
      delta = 1;
    } else if (delta > 1023 || delta < 0) {
      w16(59 << 10);
      w32(delta);
      delta = 0;
    }
    w16((a.code << 10) | delta);
    if (a.subtype !== 0) w16((61 << 10) | a.subtype);
    if (a.chan !== chan) w16((62 << 10) | a.chan);
    if (a.num !== num) w16((60 << 10) | a.num);
    if (a.aux !== undefined && a.aux.length > 0) {
      w16((63 << 10) | a.aux.length);
      for (const ch of a.aux) bytes.push(ch.charCodeAt(0));
      if (a.aux.length & 1) bytes.push(0);
    }
    t = a.sample;
    chan = a.chan;
    num = a.num;
  }
  w16(0);
  return Uint8Array.from(bytes);
}

describe('WFDB: annotation decoding', () => {
  it('handles SKIP (32-bit, high word first), NUM, SUB, CHN and AUX with padding', () => {
    const bytes = Uint8Array.from([
      0x00, 0xec, 0x01, 0x00, 0x02, 0x00, // SKIP 0x00010002 = 65538
      0x05, 0x04, // N, +5 → 65543
      0x07, 0xf4, // SUB 7
      0x03, 0xf8, // CHN 3
      0x03, 0xfc, 0x28, 0x41, 0x42, 0x00, // AUX "(AB" + pad
      0x0a, 0x14, // V, +10 → 65553; chan stays 3
      0x02, 0xf0, // NUM 2
      0x00, 0x00, // end
      0xff, 0xff, // ignored after the end word
    ]);
    assert.deepEqual(parseWfdbAnnotations(bytes), [
      { sample: 65543, code: 1, symbol: 'N', subtype: 7, chan: 3, num: 0, aux: '(AB' },
      { sample: 65553, code: 5, symbol: 'V', subtype: 0, chan: 3, num: 2 },
    ]);
  });

  it('accepts a file without the end word; rejects truncation and orphan modifiers', async () => {
    assert.deepEqual(parseWfdbAnnotations(Uint8Array.from([0x05, 0x04])).map((a) => a.sample), [5]);
    assert.deepEqual(parseWfdbAnnotations(new Uint8Array(0)), []);
    await rejectsWfdb(() => parseWfdbAnnotations(Uint8Array.from([0x05, 0x04, 0x01])), /truncated/);
    await rejectsWfdb(() => parseWfdbAnnotations(Uint8Array.from([0x00, 0xec, 0x01, 0x00])), /truncated: SKIP/);
    await rejectsWfdb(() => parseWfdbAnnotations(Uint8Array.from([0x05, 0x04, 0x05, 0xfc, 0x41])), /truncated: AUX \(5 bytes\)/);
    await rejectsWfdb(() => parseWfdbAnnotations(Uint8Array.from([0x02, 0xf0, 0x05, 0x04])), /NUM word .* before any annotation/);
    await rejectsWfdb(() => parseWfdbAnnotations(Uint8Array.from([0x00, 0xec, 0xff, 0xff, 0xff, 0xff, 0x00, 0x04])), /negative sample/);
    await rejectsWfdb(() => readWfdbAnnotations(path.join(tmp, 'missing.atr')), /cannot read missing\.atr/);
  });

  it('round-trips annotations written the way WFDB putann writes them', () => {
    const annArb = fc.record({
      gap: fc.oneof(fc.integer({ min: 0, max: 1023 }), fc.integer({ min: 0, max: 5_000_000 })),
      code: fc.integer({ min: 0, max: 49 }),
      subtype: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 1023 })),
      chan: fc.integer({ min: 0, max: 3 }),
      num: fc.integer({ min: 0, max: 1023 }),
      aux: fc.option(fc.string({ unit: fc.integer({ min: 1, max: 255 }).map((c) => String.fromCharCode(c)), minLength: 1, maxLength: 255 })),
    });
    fc.assert(
      fc.property(fc.array(annArb, { maxLength: 40 }), (raw) => {
        let t = 0;
        const anns: WfdbAnnotation[] = raw.map((r) => {
          // A code-0 annotation is written as SKIP to t-1 plus a 1-sample interval, so needs t ≥ 1.
          t += r.code === 0 ? Math.max(1, r.gap) : r.gap;
          const a: WfdbAnnotation = { sample: t, code: r.code, symbol: annotationSymbol(r.code), subtype: r.subtype, chan: r.chan, num: r.num };
          if (r.aux !== null) a.aux = r.aux;
          return a;
        });
        assert.deepEqual(parseWfdbAnnotations(writeAnnotations(anns)), anns);
      }),
      { numRuns: 300 },
    );
  });

  it('random bytes: only WfdbError, never anything else; results are well formed', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 400 }), (bytes) => {
        onlyWfdbErrors(() => {
          for (const a of parseWfdbAnnotations(bytes)) {
            assert.ok(Number.isSafeInteger(a.sample) && a.sample >= 0);
            assert.ok(a.code >= 0 && a.code <= 58);
          }
        });
      }),
      { numRuns: 2000 },
    );
  });
});

describe('WFDB: header parser', () => {
  it('reads comments on their own lines and after fields, skips blank lines, accepts CRLF', () => {
    const h = parseWfdbHeader('#wfdb 10.7\r\n\r\nrec 1 360 1000 # trailing\r\n  # indented\r\nrec.dat 212 200 11 1024 995 -22131 0 MLII # lead\r\n# age 69\r\n');
    assert.deepEqual(h.comments, ['wfdb 10.7', 'trailing', 'indented', 'lead', 'age 69']);
    assert.equal(h.record, 'rec');
    assert.equal(h.nSamples, 1000);
    assert.equal(h.signals[0]!.description, 'MLII');
    assert.equal(h.signals[0]!.checksum, -22131);
    assert.equal(h.signals[0]!.line, 5);
  });

  it('fills in WFDB defaults: fs 250, gain 200, units mV, baseline = adczero, initval = adczero', () => {
    const h = parseWfdbHeader('rec 2\nrec.dat 16\nrec.dat 16 0 12 512\n');
    assert.equal(h.fs, 250);
    assert.equal(h.nSamples, undefined);
    assert.equal(h.counterFreq, undefined);
    assert.deepEqual(h.signals[0], {
      fileName: 'rec.dat', format: 16, samplesPerFrame: 1, skew: 0, byteOffset: 0, gain: 200, baseline: 0, units: 'mV',
      adcResolution: 12, adcZero: 0, initialValue: 0, checksum: undefined, blockSize: 0, description: 'record rec, signal 0', line: 2,
    });
    const s1 = h.signals[1]!;
    assert.deepEqual([s1.gain, s1.adcZero, s1.baseline, s1.initialValue], [200, 512, 512, 512]);
    assert.equal(parseWfdbHeader('r 1\nr.dat 212\n').signals[0]!.adcResolution, 12);
    assert.equal(parseWfdbHeader('r 1\nr.dat 80\n').signals[0]!.adcResolution, 8);
    assert.equal(parseWfdbHeader('r 1\nr.dat 16 100/\n').signals[0]!.units, 'mV');
    assert.equal(parseWfdbHeader('r 0 360 0\n').nSamples, undefined);
  });

  it('reads gain with baseline and units, and an explicit baseline that differs from adczero', () => {
    const s = parseWfdbHeader('r 1 500\nr.dat 16 1000.5(-12)/uV 16 4 7 0 0 ECG lead I\n').signals[0]!;
    assert.deepEqual([s.gain, s.baseline, s.units, s.adcResolution, s.adcZero, s.initialValue, s.checksum, s.description], [
      1000.5, -12, 'uV', 16, 4, 7, 0, 'ECG lead I',
    ]);
    assert.equal(parseWfdbHeader('r 1\nr.dat 16 100/mmHg\n').signals[0]!.units, 'mmHg');
  });

  it('reads multi-frequency samples per frame, skew and byte offset', () => {
    const h = parseWfdbHeader('rec 2 100 10\nrec.dat 16x4:3+512 200 16 0 0 0 0 fast\nrec.dat 16+512 200 16 0 0 0 0 slow\n');
    assert.equal(h.fs, 100);
    assert.equal(h.nSamples, 10);
    assert.deepEqual(h.signals.map((s) => [s.samplesPerFrame, s.skew, s.byteOffset, s.description]), [
      [4, 3, 512, 'fast'],
      [1, 0, 512, 'slow'],
    ]);
  });

  it('reads counter frequency, base counter, base time and date', () => {
    const h = parseWfdbHeader('rec 0 360/720(12.5) 1000 10:20:30 01/02/2003\n');
    assert.deepEqual([h.nSignals, h.fs, h.counterFreq, h.baseCounter, h.nSamples, h.baseTime, h.baseDate], [0, 360, 720, 12.5, 1000, '10:20:30', '01/02/2003']);
    assert.deepEqual(h.signals, []);
  });

  it('gives clear errors with line numbers', async () => {
    await rejectsWfdb(() => parseWfdbHeader('# only a comment\n'), /no record line/);
    await rejectsWfdb(() => parseWfdbHeader('multi/3 2 360 1000\n'), /^header line 1: multi-segment records .* not supported/);
    await rejectsWfdb(() => parseWfdbHeader('r 3 360\nr.dat 16\n'), /declares 3 signals but has 1 signal line/);
    const e = await rejectsWfdb(() => parseWfdbHeader('r 1\n\nr.dat 16y2\n'), /^header line 3: invalid format field '16y2'/);
    assert.equal(e.line, 3);
    await rejectsWfdb(() => parseWfdbHeader('r 1\nr.dat 16 abc\n'), /line 2: ADC gain 'abc' is not a number/);
    await rejectsWfdb(() => parseWfdbHeader('r 1 -5\n'), /sampling frequency must be positive/);
    await rejectsWfdb(() => parseWfdbHeader('r x\n'), /number of signals 'x' is not an integer/);
    await rejectsWfdb(() => parseWfdbHeader('r 1\nr.dat 16\nextra 16\n'), /line 3: unexpected line after the 1 signal lines/);
    await rejectsWfdb(() => parseWfdbHeader('r 1\n../../etc/passwd 16\n'), /must be a relative path inside the record's directory/);
    await rejectsWfdb(() => parseWfdbHeader('r 1\n/etc/passwd 16\n'), /relative path/);
    await rejectsWfdb(() => parseWfdbHeader('r 1\nr.dat 16x0\n'), /samples per frame 0 is below 1/);
  });

  it('random text: only WfdbError, never anything else', () => {
    const tokens = [
      'rec', 'r_1', 'a/2', '0', '1', '2', '3', '-1', '360', '360/720(3)', '250/', '1e400', '1000', '10:00:00', '01/01/2000', 'rec.dat',
      'x.dat', '-', '..', '16', '212', '80', '61', '8', '310', '311', '508', '16x2', '16x0', '16:1+4', '16+99999999999999999999', '200',
      '200(3)/uV', '(', ')', '/', '0/mV', 'NaN', 'Infinity', '#', '# c', '\t', '9007199254740993',
    ];
    const structured = fc
      .array(fc.array(fc.constantFrom(...tokens), { maxLength: 10 }).map((t) => t.join(' ')), { maxLength: 8 })
      .map((lines) => lines.join('\n'));
    fc.assert(
      fc.property(fc.oneof(fc.string({ maxLength: 300 }), fc.string({ unit: 'binary', maxLength: 300 }), structured), (text) => {
        onlyWfdbErrors(() => parseWfdbHeader(text));
      }),
      { numRuns: 3000 },
    );
  });
});

describe('WFDB: sample formats', () => {
  it('decodes known byte patterns', () => {
    const d = (format: number, bytes: number[], n: number): number[] => Array.from(decodeWfdbSamples(format, Uint8Array.from(bytes), n));
    assert.deepEqual(d(212, [0x12, 0x34, 0x56], 2), [0x412, 0x356]);
    assert.deepEqual(d(212, [0xff, 0xff, 0xff, 0x00, 0x08], 3), [-1, -1, -2048]);
    assert.deepEqual(d(16, [0x00, 0x80, 0xff, 0x7f, 0xfe, 0xff], 3), [-32768, 32767, -2]);
    assert.deepEqual(d(61, [0x80, 0x00, 0x01, 0x02], 2), [-32768, 258]);
    assert.deepEqual(d(80, [0, 128, 255], 3), [-128, 0, 127]);
    assert.deepEqual(d(8, [0x01, 0xff, 0x80], 3), [1, -1, -128]);
    assert.deepEqual(d(160, [0x00, 0x00, 0x00, 0x80], 2), [-32768, 0]);
    assert.deepEqual(d(24, [0xff, 0xff, 0xff, 0x01, 0x00, 0x00], 2), [-1, 1]);
    assert.deepEqual(d(32, [0x00, 0x00, 0x00, 0x80], 1), [-(2 ** 31)]);
    // 311: 0x3ff, 1, -512 in bits 0-9, 10-19, 20-29.
    const w311 = 0x3ff | (1 << 10) | (0x200 << 20);
    assert.deepEqual(d(311, [w311 & 0xff, (w311 >> 8) & 0xff, (w311 >> 16) & 0xff, (w311 >>> 24) & 0xff], 3), [-1, 1, -512]);
    assert.deepEqual(d(212, [], 0), []);
  });

  it('212 with an odd count: the last sample takes 2 bytes', () => {
    assert.equal(bytesForSamples(212, 3), 5);
    assert.equal(samplesInBytes(212, 5), 3);
    assert.equal(samplesInBytes(212, 4), 2);
    assert.deepEqual(Array.from(encodeWfdbSamples(212, [1, 2, -3])), [0x01, 0x00, 0x02, 0xfd, 0x0f]);
  });

  it('invalid-sample values per format', () => {
    assert.deepEqual(
      SUPPORTED_FORMATS.map((f) => [f, invalidSampleValue(f)]),
      [[8, -32768], [16, -32768], [24, -(2 ** 23)], [32, -(2 ** 31)], [61, -32768], [80, -128], [160, -32768], [212, -2048], [310, -512], [311, -512]],
    );
  });

  it('clear errors: unsupported format, too few bytes, bad count', async () => {
    await rejectsWfdb(() => decodeWfdbSamples(508, new Uint8Array(4), 1), /^format 508 is not supported \(supported: 8, 16, 24, 32, 61, 80, 160, 212, 310, 311\)$/);
    await rejectsWfdb(() => decodeWfdbSamples(212, new Uint8Array(4), 3), /format 212: 3 samples need 5 bytes, only 4 available/);
    await rejectsWfdb(() => decodeWfdbSamples(16, new Uint8Array(4), -1), /non-negative integer/);
    await rejectsWfdb(() => decodeWfdbSamples(16, new Uint8Array(4), 1.5), /non-negative integer/);
  });

  it('encode → decode round trip for every format (any count, including partial bit-packed groups)', () => {
    const formatArb = fc.constantFrom(...SUPPORTED_FORMATS);
    fc.assert(
      fc.property(
        formatArb.chain((format) => {
          const min = format === 8 || format === 80 ? -128 : format === 212 ? -2048 : format === 310 || format === 311 ? -512 : format === 24 ? -(2 ** 23) : format === 32 ? -(2 ** 31) : -32768;
          return fc.tuple(fc.constant(format), fc.array(fc.integer({ min, max: -min - 1 }), { maxLength: 50 }));
        }),
        ([format, values]) => {
          const bytes = encodeWfdbSamples(format, values);
          assert.equal(bytes.length, bytesForSamples(format, values.length));
          // A partial 310/311 group of two samples fills 4 bytes, which also hold a third sample.
          const fits = samplesInBytes(format, bytes.length);
          assert.ok(fits >= values.length && fits <= values.length + 1);
          assert.ok(bytesForSamples(format, fits) <= bytes.length);
          assert.deepEqual(Array.from(decodeWfdbSamples(format, bytes, values.length)), values);
        },
      ),
      { numRuns: 1000 },
    );
  });

  it('random bytes, formats and counts: only WfdbError', () => {
    fc.assert(
      fc.property(
        fc.oneof(fc.constantFrom<number>(...SUPPORTED_FORMATS), fc.integer({ min: -5, max: 1000 })),
        fc.uint8Array({ maxLength: 64 }),
        fc.oneof(fc.integer({ min: -3, max: 100 }), fc.double(), fc.constant(Number.MAX_SAFE_INTEGER), fc.constant(2 ** 60)),
        (format, bytes, count) => {
          onlyWfdbErrors(() => {
            const out = decodeWfdbSamples(format, bytes, count);
            assert.ok(out.length === count); // (count may be -0)
          });
        },
      ),
      { numRuns: 3000 },
    );
  });
});

describe('WFDB: records from synthetic files', () => {
  it('multi-frequency: 16x4 and 16 share rec.dat, interleaved frame by frame', async () => {
    const fast = Array.from({ length: 40 }, (_, i) => i * 3 - 50);
    const slow = Array.from({ length: 10 }, (_, i) => 1000 + i);
    const dat = encodeWfdbSamples(16, interleave([fast, slow], [4, 1], 10));
    const hea = writeRecord(
      `rec 2 100 10\nrec.dat 16x4 200 16 0 -50 ${wfdbChecksum(fast)} 0 fast\nrec.dat 16 100(1000)/uV 16 0 1000 ${wfdbChecksum(slow)} 0 slow\n`,
      { 'rec.dat': dat },
    );
    const rec = await readWfdbRecord(hea);
    assert.deepEqual(Array.from(rec.digital[0]!), fast);
    assert.deepEqual(Array.from(rec.digital[1]!), slow);
    assert.equal(rec.sampleRate(0), 400);
    assert.equal(rec.sampleRate(1), 100);
    assert.equal(rec.toPhysical(1, 5), 5 / 100);
    const info = wfdbRecordInfo(rec);
    assert.equal(info.samples, 10);
    assert.deepEqual(info.signals.map((s) => [s.samplesPerFrame, s.computedChecksum === s.checksum, s.first.length]), [
      [4, true, 5],
      [1, true, 5],
    ]);
  });

  it('byte offset: skips the prolog at the start of the file', async () => {
    const values = [5, -6, 7, -8];
    const prolog = Uint8Array.from([0xde, 0xad, 0xbe, 0xef, 0x00, 0x01, 0x02]);
    const hea = writeRecord('rec 1 10 4\nrec.dat 16+7\n', { 'rec.dat': Buffer.concat([prolog, encodeWfdbSamples(16, values)]) });
    assert.deepEqual(Array.from((await readWfdbRecord(hea)).digital[0]!), values);
  });

  it('format 80 and 61 files, with invalid samples as NaN in physical units', async () => {
    const a = [0, 10, -128, 127, -5];
    const b = [0, -32768, 32767, -300, 300];
    const hea = writeRecord('rec 2 125 5\na.dat 80 10(2)/mmHg 8\nb.dat 61 1000/mV 16\n', {
      'a.dat': encodeWfdbSamples(80, a),
      'b.dat': encodeWfdbSamples(61, b),
    });
    const rec = await readWfdbRecord(hea);
    assert.deepEqual(Array.from(rec.digital[0]!), a);
    assert.deepEqual(Array.from(rec.digital[1]!), b);
    assert.deepEqual(Array.from(rec.physical(0)), [-0.2, 0.8, NaN, 12.5, -0.7]);
    assert.deepEqual(Array.from(rec.physical(1)), [0, NaN, 32.767, -0.3, 0.3]);
    assert.ok(Number.isNaN(rec.toPhysical(0, 2)));
    assert.equal(rec.invalidValue(0), -128);
  });

  it('format 212 with an odd number of samples per frame packs pairs across frame boundaries', async () => {
    const sigs = [
      [1, 2, 3, 4, 5],
      [-1, -2, -3, -4, -2048],
      [2047, 0, -7, 100, 9],
    ];
    const dat = encodeWfdbSamples(212, interleave(sigs, [1, 1, 1], 5));
    assert.equal(dat.length, 23); // 15 samples: 7 pairs (21 bytes) + 2 bytes
    const hea = writeRecord(
      `rec 3 50 5\n${sigs.map((s, i) => `rec.dat 212 200 12 0 ${s[0]} ${wfdbChecksum(s)} 0 s${i}`).join('\n')}\n`,
      { 'rec.dat': dat },
    );
    const rec = await readWfdbRecord(hea);
    assert.deepEqual(rec.digital.map((d) => Array.from(d)), sigs);
    assert.ok(Number.isNaN(rec.toPhysical(1, 4)));
    for (const s of wfdbRecordInfo(rec).signals) assert.equal(s.computedChecksum, s.checksum);
  });

  it('format 8: first differences integrated from the initial value, per signal', async () => {
    const x = [100, 101, 99, 99, 226];
    const y = [-5, -5, 0, -128, -256];
    const diffs = (v: number[], init: number): number[] => v.map((s, i) => s - (i === 0 ? init : v[i - 1]!));
    const hea = writeRecord('rec 2 10 5\nrec.dat 8 200 12 0 90\nrec.dat 8 200 12 0 -5\n', {
      'rec.dat': encodeWfdbSamples(8, interleave([diffs(x, 90), diffs(y, -5)], [1, 1], 5)),
    });
    const rec = await readWfdbRecord(hea);
    assert.deepEqual(rec.digital.map((d) => Array.from(d)), [x, y]);
  });

  it('signals in separate files, with no length in the header: the shortest file sets the length', async () => {
    const hea = writeRecord('rec 2 10\na.dat 16\nb.dat 212\n', {
      'a.dat': encodeWfdbSamples(16, [1, 2, 3, 4]),
      'b.dat': encodeWfdbSamples(212, [5, 6, 7]),
    });
    const rec = await readWfdbRecord(hea);
    assert.equal(rec.nFrames, 3);
    assert.deepEqual(rec.digital.map((d) => Array.from(d)), [[1, 2, 3], [5, 6, 7]]);
    assert.equal(wfdbRecordInfo(rec).signals[0]!.checksum, null);
  });

  it('skew: a signal starts `skew` samples into its file; the header checksum covers stored samples', async () => {
    const a = [10, 11, 12, 13, 14, 15];
    const b = [20, 21, 22, 23, 24, 25];
    const dat = encodeWfdbSamples(16, interleave([a, b], [1, 1], 6));
    // 5 frames in the record, 6 in the file: b (skew 2) reads one frame ahead, then runs out.
    const hea = writeRecord(`rec 2 10 5\nrec.dat 16 200 16 0 10\nrec.dat 16:2 200 16 0 22 ${wfdbChecksum(b.slice(0, 5))}\n`, { 'rec.dat': dat });
    const rec = await readWfdbRecord(hea);
    assert.deepEqual(Array.from(rec.digital[0]!), a.slice(0, 5));
    assert.deepEqual(Array.from(rec.digital[1]!), [22, 23, 24, 25, -32768]);
    assert.equal(wfdbRecordInfo(rec).signals[1]!.computedChecksum, wfdbRecordInfo(rec).signals[1]!.checksum);
    assert.equal(rec.header.signals[1]!.skew, 2);
  });

  it('clear errors: truncated file, unsupported format, missing file, absurd length, mixed formats', async () => {
    const e = await rejectsWfdb(
      async () => readWfdbRecord(writeRecord('rec 2 360 1000\nrec.dat 212\nrec.dat 212\n', { 'rec.dat': new Uint8Array(2999) })),
      /^rec\.dat is truncated: expected at least 3000 bytes \(1000 frames × 2 samples in format 212\), found 2999$/,
    );
    assert.equal(e.file, 'rec.dat');
    await rejectsWfdb(
      async () => readWfdbRecord(writeRecord('rec 1 360 10\nrec.dat 16+100\n', { 'rec.dat': new Uint8Array(110) })),
      /expected at least 120 bytes \(10 frames × 1 samples in format 16 after a 100-byte offset\), found 110/,
    );
    await rejectsWfdb(
      async () => readWfdbRecord(writeRecord('rec 1 360 10\nrec.dat 516\n', { 'rec.dat': new Uint8Array(20) })),
      /^header line 2: format 516 is not supported \(supported: 8, 16, 24, 32, 61, 80, 160, 212, 310, 311\)$/,
    );
    await rejectsWfdb(async () => readWfdbRecord(writeRecord('rec 1 360 10\nnothere.dat 16\n', {})), /cannot read nothere\.dat/);
    const t0 = Date.now();
    await rejectsWfdb(
      async () => readWfdbRecord(writeRecord('rec 1 360 9007199254740991\nrec.dat 16x1000000\n', { 'rec.dat': new Uint8Array(10) })),
      /rec\.dat is truncated/,
    );
    assert.ok(Date.now() - t0 < 1000);
    await rejectsWfdb(
      async () => readWfdbRecord(writeRecord('rec 1 360 100\nrec.dat 80\n', { 'rec.dat': new Uint8Array(100) }), { maxSamples: 99 }),
      /too large: 100 frames × 1 samples exceeds the limit of 99 samples/,
    );
    await rejectsWfdb(
      async () => readWfdbRecord(writeRecord('rec 2 360 10\nrec.dat 16\nrec.dat 212\n', { 'rec.dat': new Uint8Array(100) })),
      /line 3: signal 1 is format 212 but shares rec\.dat with signal 0 in format 16/,
    );
    await rejectsWfdb(async () => readWfdbRecord(path.join(tmp, 'none.hea')), /cannot read none\.hea/);
    await rejectsWfdb(async () => readWfdbRecord(writeRecord('rec 2 360 10\nrec.dat 16\n', {})), /^rec\.hea: header declares 2 signals/);
  });

  it('random headers and file bytes: only WfdbError, and a consistent record when it decodes', () => {
    const formatTok = fc.constantFrom('16', '212', '80', '61', '8', '310', '311', '24', '160', '16x2', '212x3', '16:1', '80+3', '212x2:2+1', '0', '508');
    const signalLine = fc
      .tuple(fc.constantFrom('a.dat', 'b.dat'), formatTok, fc.constantFrom('', ' 200', ' 0(3)/uV 12 5', ' 100 12 0 7 -3 0 x'))
      .map(([f, fmt, rest]) => `${f} ${fmt}${rest}`);
    const headerArb = fc
      .tuple(fc.integer({ min: 0, max: 4 }), fc.constantFrom('', ' 0', ' 3', ' 17', ' 100000000'), fc.array(signalLine, { minLength: 4, maxLength: 4 }))
      .map(([n, len, lines]) => `r ${n} 100${len}\n${lines.slice(0, n).join('\n')}\n`);
    fc.assert(
      fc.property(headerArb, fc.uint8Array({ maxLength: 120 }), fc.uint8Array({ maxLength: 120 }), (text, a, b) => {
        onlyWfdbErrors(() => {
          const h = parseWfdbHeader(text);
          const rec = wfdbRecordFromBuffers(h, { 'a.dat': a, 'b.dat': b });
          h.signals.forEach((s, i) => {
            assert.equal(rec.digital[i]!.length, rec.nFrames * s.samplesPerFrame);
            assert.ok(wfdbChecksumsMatch(rec.checksums[i]!, wfdbRecordInfo(rec).signals[i]!.computedChecksum));
            if (s.skew === 0) assert.equal(rec.checksums[i], wfdbChecksum(rec.digital[i]!));
          });
        });
      }),
      { numRuns: 2000 },
    );
  });
});

describe('WFDB: checksum', () => {
  it('is the 16-bit two\'s-complement sum, signed like the header', () => {
    assert.equal(wfdbChecksum([]), 0);
    assert.equal(wfdbChecksum([32767, 1]), -32768);
    assert.equal(wfdbChecksum([-1, -1]), -2);
    assert.equal(wfdbChecksum(Int32Array.from([65536, 3])), 3);
    assert.ok(wfdbChecksumsMatch(-22131, 65536 - 22131));
    fc.assert(
      fc.property(fc.array(fc.integer({ min: -32768, max: 32767 })), (xs) => {
        const c = wfdbChecksum(xs);
        assert.ok(c >= -32768 && c <= 32767);
        assert.equal(((c - xs.reduce((a, b) => a + b, 0)) % 65536 + 65536) % 65536, 0);
      }),
    );
  });
});
