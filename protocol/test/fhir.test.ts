import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import fc from 'fast-check';
import {
  FHIR_FRAMES_EXT, FHIR_ID_SYSTEM, MAX_TS, MIN_TS, STREAMS, fromFhirBundle, rateFromPeriod, sortReadings, toFhirBundle,
  type FhirBatch, type FhirBundle, type FhirObservation, type FhirReading, type FhirResource, type IeeeSpecial, type ScalarStreamSpec,
  type StreamName,
} from '../src/index.js';
import { assertFhirValid, fhirSchemaErrors } from '../src/fhir-schema/index.js';

const T0 = Date.UTC(2026, 2, 1, 8, 0, 0);
const GATEWAY = { id: '0x5B38Da6a701c568545dCfcB03FcB875f56beddC4' };
const SPECIALS: IeeeSpecial[] = ['nan', 'nres', 'positive-infinity', 'negative-infinity', 'reserved'];

/** Every resource of the bundle, each checked against the FHIR R4 schema, and the bundle itself. */
function validateAll(bundle: FhirBundle): void {
  for (const e of bundle.entry) assertFhirValid(e.resource);
  assertFhirValid(bundle);
}

const resources = <T extends FhirResource['resourceType']>(b: FhirBundle, type: T) =>
  b.entry.map((e) => e.resource).filter((r): r is Extract<FhirResource, { resourceType: T }> => r.resourceType === type);

const withoutBatch = (rs: readonly FhirReading[]): FhirReading[] => rs.map(({ batchId: _, ...r }) => r);

/** JSON has no -0; a device's -0 comes back as 0, which is the same number. */
const num = (min: number, max: number) => fc.double({ min, max, noNaN: true, noDefaultInfinity: true }).map((v) => (v === 0 ? 0 : v));

const scalarReading = (deviceId: string, seq: number) =>
  fc.constantFrom<StreamName>('hr', 'spo2', 'temp', 'bp', 'glucose', 'resp').chain((stream) => {
    const spec = STREAMS[stream] as ScalarStreamSpec;
    const comps = Object.entries(spec.components).map(([name, c]) => {
      const value = fc.oneof({ weight: 5, arbitrary: num(c.min, c.max) }, { weight: 1, arbitrary: fc.constantFrom(...SPECIALS).map((absent) => ({ absent })) });
      return (c.optional ? fc.option(value, { nil: undefined }) : value).map((v) => [name, v] as const);
    });
    return fc.record({
      ts: fc.integer({ min: MIN_TS, max: MAX_TS }),
      comps: fc.tuple(...comps),
      rr: stream === 'hr' ? fc.option(fc.array(num(Number.MIN_VALUE, 10000), { minLength: 1, maxLength: 64 }), { nil: undefined }) : fc.constant(undefined),
      batch: fc.integer({ min: 0, max: 3 }),
    }).map(({ ts, comps: cs, rr, batch }): FhirReading => ({
      deviceId, stream, batchId: `batch-${batch}`,
      body: { seq, ts, values: Object.fromEntries(cs.filter(([, v]) => v !== undefined)) as Record<string, number>, ...(rr ? { rr } : {}) },
    }));
  });

/** Frames of one device's waveform: contiguous on its sampling clock, with an occasional gap or long frame. */
const waveformRun = (deviceId: string, firstSeq: number) =>
  fc.record({
    stream: fc.constantFrom<StreamName>('ecg', 'ppg'),
    rate: fc.constantFrom(250, 360, 500, 64, 62.5, 128, 7.8125, 1000),
    start: fc.integer({ min: MIN_TS, max: MAX_TS - 86_400_000 }),
    frames: fc.array(fc.record({
      n: fc.oneof({ weight: 6, arbitrary: fc.integer({ min: 1, max: 40 }) }, { weight: 1, arbitrary: fc.integer({ min: 600, max: 3000 }) }),
      gapMs: fc.oneof({ weight: 5, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.integer({ min: 2, max: 100_000 }) }),
      batch: fc.integer({ min: 0, max: 3 }),
    }), { minLength: 1, maxLength: 30 }),
    sample: fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }),
  }).map(({ stream, rate, start, frames, sample }) => {
    const out: FhirReading[] = [];
    let t = start;
    let cum = 0;
    frames.forEach((f, i) => {
      t += f.gapMs;
      if (f.gapMs) cum = 0;
      const ts = (f.gapMs ? t : start) + Math.round((cum * 1000) / rate);
      if (f.gapMs) start = t;
      out.push({ deviceId, stream, batchId: `batch-${f.batch}`, body: { seq: firstSeq + i, ts, rate, samples: Array.from({ length: f.n }, (_, k) => (sample + k * 7919 * (i + 1)) | 0) } });
      cum += f.n;
      t = start + Math.round((cum * 1000) / rate);
    });
    return out;
  });

const batchesArb = fc.array(fc.boolean(), { minLength: 4, maxLength: 4 }).map((anchored) => anchored.map((a, i): FhirBatch => ({
  id: `batch-${i}`, recorded: T0 + i * 2000, firstTs: T0, lastTs: T0 + 1999,
  ...(a ? { anchor: { root: `0x${'ab'.repeat(31)}${i.toString(16).padStart(2, '0')}`, txHash: `0x${'cd'.repeat(31)}0${i}` } } : {}),
})));

const reading = (stream: StreamName, values: FhirReading['body'], deviceId = 'strap-1'): FhirReading => ({ deviceId, stream, body: values });

describe('FHIR R4 export', () => {
  it('the schema check refuses what is not R4 (so passing it means something)', () => {
    const { bundle } = toFhirBundle({ patientId: 'p-1', gateway: GATEWAY, readings: [reading('hr', { seq: 1, ts: T0, values: { hr: 61 } })] });
    validateAll(bundle);
    const obs = resources(bundle, 'Observation')[0]!;
    assert.ok(fhirSchemaErrors({ ...obs, status: 'done' }).length > 0, 'status outside the R4 code set');
    assert.ok(fhirSchemaErrors({ ...obs, effectiveDateTime: '1 March 2026' }).length > 0, 'a dateTime that is not one');
    assert.ok(fhirSchemaErrors({ ...obs, valueQuantity: { value: '61' } }).length > 0, 'a decimal given as a string');
    assert.ok(fhirSchemaErrors({ ...obs, contained: [{ resourceType: 'Patient' }] }).length > 0, 'contained resources are refused');
    assert.ok(fhirSchemaErrors({ ...bundle, type: 'bag' }).length > 0, 'a Bundle type outside R4');
    assert.ok(fhirSchemaErrors({ resourceType: 'Obsrvation' }).length > 0);
  });

  it('maps each vital sign to its LOINC code, UCUM unit, category, status and vital-signs profile', () => {
    const readings: FhirReading[] = [
      reading('hr', { seq: 1, ts: T0, values: { hr: 72 }, rr: [781.25, 812.5] }),
      reading('spo2', { seq: 2, ts: T0, values: { spo2: 97, pr: 71 } }, 'ox-1'),
      reading('temp', { seq: 3, ts: T0, values: { temp: 36.85 } }, 'thermo'),
      reading('resp', { seq: 4, ts: T0, values: { resp: 14.5 } }),
      reading('bp', { seq: 5, ts: T0, values: { sys: 121, dia: 79, map: 93, pr: 64 } }, 'cuff'),
      reading('glucose', { seq: 6, ts: T0, values: { glucose: 98 } }, 'meter'),
    ];
    const { bundle } = toFhirBundle({ patientId: 'p-1', gateway: GATEWAY, readings });
    validateAll(bundle);
    assert.equal(bundle.type, 'collection');
    const byCode = new Map(resources(bundle, 'Observation').map((o) => [o.code.coding![0]!.code, o]));
    const q = (o: FhirObservation | undefined) => [o?.valueQuantity?.value, o?.valueQuantity?.code, o?.valueQuantity?.system];
    const UCUM = 'http://unitsofmeasure.org';
    assert.deepEqual(q(byCode.get('8867-4')), [72, '/min', UCUM]);
    assert.deepEqual(byCode.get('8867-4')!.component!.map((c) => [c.code.coding![0]!.code, c.valueQuantity!.value, c.valueQuantity!.code]), [['147240', 781.25, 'ms'], ['147240', 812.5, 'ms']]);
    const spo2 = byCode.get('2708-6')!;
    assert.deepEqual(spo2.code.coding!.map((c) => c.code), ['2708-6', '59408-5']);
    assert.deepEqual(q(spo2), [97, '%', UCUM]);
    assert.deepEqual(spo2.component!.map((c) => [c.code.coding![0]!.code, c.valueQuantity!.value]), [['8889-8', 71]]);
    assert.deepEqual(q(byCode.get('8310-5')), [36.85, 'Cel', UCUM]);
    assert.deepEqual(q(byCode.get('9279-1')), [14.5, '/min', UCUM]);
    const bp = byCode.get('85354-9')!;
    assert.equal(bp.valueQuantity, undefined);
    assert.deepEqual(bp.component!.map((c) => [c.code.coding![0]!.code, c.valueQuantity!.value, c.valueQuantity!.code]),
      [['8480-6', 121, 'mm[Hg]'], ['8462-4', 79, 'mm[Hg]'], ['8478-0', 93, 'mm[Hg]'], ['8867-4', 64, '/min']]);
    assert.deepEqual(q(byCode.get('2339-0')), [98, 'mg/dL', UCUM]);
    for (const [code, profile] of [['8867-4', 'heartrate'], ['2708-6', 'oxygensat'], ['8310-5', 'bodytemp'], ['9279-1', 'resprate'], ['85354-9', 'bp']]) {
      const o = byCode.get(code!)!;
      assert.deepEqual(o.meta?.profile, [`http://hl7.org/fhir/StructureDefinition/${profile}`]);
      assert.equal(o.category[0]!.coding![0]!.code, 'vital-signs');
      assert.equal(o.status, 'final');
      assert.equal(o.effectiveDateTime, '2026-03-01T08:00:00.000Z');
    }
    assert.equal(byCode.get('2339-0')!.category[0]!.coding![0]!.code, 'laboratory');
    // Every reference resolves inside the bundle.
    const urls = new Set(bundle.entry.map((e) => e.fullUrl));
    for (const o of resources(bundle, 'Observation')) {
      for (const r of [o.subject.reference, o.device!.reference, o.extension![0]!.valueReference!.reference]) assert.ok(urls.has(r!), `${r} resolves`);
    }
    const devices = resources(bundle, 'Device');
    assert.equal(devices.length, 6, 'five sensors and the gateway');
    const gw = devices.find((d) => d.identifier[0]!.system === FHIR_ID_SYSTEM.gateway)!;
    assert.equal(gw.type.coding![0]!.code, '531981');
    const cuff = devices.find((d) => d.identifier[0]!.value === 'cuff')!;
    assert.equal(cuff.type.coding![0]!.code, '65573');
    assert.deepEqual(cuff.specialization!.map((s) => s.systemType.coding![0]!.display), ['MDC_DEV_SPEC_PROFILE_BP']);
  });

  it('turns SFLOAT/FLOAT special values into dataAbsentReason, and back', () => {
    const cases: Array<[IeeeSpecial, string, string]> = [
      ['nan', 'not-a-number', 'NaN'], ['nres', 'error', 'NRes'], ['positive-infinity', 'positive-infinity', '+INF'],
      ['negative-infinity', 'negative-infinity', '-INF'], ['reserved', 'error', 'reserved'],
    ];
    for (const [absent, code, text] of cases) {
      const readings: FhirReading[] = [
        reading('temp', { seq: 1, ts: T0, values: { temp: { absent } } }),
        reading('bp', { seq: 2, ts: T0, values: { sys: 120, dia: { absent } } }),
      ];
      const { bundle } = toFhirBundle({ patientId: 'p-1', gateway: GATEWAY, readings });
      validateAll(bundle);
      const [temp, bp] = resources(bundle, 'Observation').sort((a, b) => a.code.coding![0]!.code.localeCompare(b.code.coding![0]!.code));
      assert.equal(temp!.code.coding![0]!.code, '8310-5');
      assert.equal(temp!.valueQuantity, undefined);
      assert.deepEqual([temp!.dataAbsentReason!.coding![0]!.code, temp!.dataAbsentReason!.text], [code, text]);
      assert.equal(temp!.dataAbsentReason!.coding![0]!.system, 'http://terminology.hl7.org/CodeSystem/data-absent-reason');
      assert.deepEqual([bp!.component![1]!.dataAbsentReason!.coding![0]!.code, bp!.component![1]!.valueQuantity], [code, undefined]);
      assert.deepEqual(fromFhirBundle(bundle).readings, sortReadings(readings));
    }
  });

  it('writes ECG and PPG as bounded valueSampledData with MDC codes, cut at 10 s and at gaps', () => {
    const frames: FhirReading[] = [];
    for (let i = 0; i < 250; i++) frames.push(reading('ecg', { seq: i, ts: T0 + i * 100, rate: 250, samples: Array.from({ length: 25 }, (_, k) => i * 25 + k) }));
    // A 3 s gap, then one 24 s frame at 62.5 Hz... of PPG on another device.
    frames.push(reading('ecg', { seq: 300, ts: T0 + 28_000, rate: 250, samples: [1, 2, 3] }));
    frames.push(reading('ppg', { seq: 400, ts: T0, rate: 62.5, samples: Array.from({ length: 1500 }, (_, k) => k) }, 'ox-1'));
    const { bundle } = toFhirBundle({ patientId: 'p-1', gateway: GATEWAY, readings: frames });
    validateAll(bundle);
    const obs = resources(bundle, 'Observation');
    const ecg = obs.filter((o) => o.code.coding![0]!.code === '131328');
    const ppg = obs.filter((o) => o.code.coding![0]!.code === '150452');
    assert.deepEqual(ecg[0]!.code.coding!.map((c) => [c.system, c.code]), [['urn:iso:std:iso:11073:10101', '131328'], ['http://loinc.org', '11524-6']]);
    assert.deepEqual(ecg.map((o) => o.valueSampledData!.data!.split(' ').length), [2500, 2500, 1250, 3]);
    assert.deepEqual(ecg.map((o) => o.effectivePeriod!.start), ['2026-03-01T08:00:00.000Z', '2026-03-01T08:00:10.000Z', '2026-03-01T08:00:20.000Z', '2026-03-01T08:00:28.000Z']);
    assert.equal(ecg[0]!.effectivePeriod!.end, '2026-03-01T08:00:09.996Z');
    const sd = ecg[0]!.valueSampledData!;
    assert.deepEqual([sd.origin, sd.period, sd.factor, sd.dimensions], [{ value: 0, unit: 'µV', system: 'http://unitsofmeasure.org', code: 'uV' }, 4, 1, 1]);
    assert.deepEqual(ppg.map((o) => o.valueSampledData!.data!.split(' ').length), [625, 625, 250]);
    assert.deepEqual(ppg.map((o) => o.extension!.find((e) => e.url === FHIR_FRAMES_EXT)!.valueString), ['400:0:625', '+400:-10000:625', '+400:-20000:250']);
    assert.deepEqual(fromFhirBundle(JSON.parse(JSON.stringify(bundle)) as FhirBundle).readings, sortReadings(frames));
  });

  it('recovers a sampling rate exactly from its period', () => {
    for (const r of [250, 360, 500, 64, 62.5, 128, 1000, 10000, 7.8125, 0.5, 256, 125, 100, 200, 1024, 333.3, 0.001]) assert.equal(rateFromPeriod(1000 / r), r);
  });

  it('gives one Provenance per sealed batch, with the batch id and, once anchored, its Merkle root and transaction', () => {
    const root = `0x${'11'.repeat(32)}`;
    const tx = `0x${'22'.repeat(32)}`;
    const readings: FhirReading[] = [
      { ...reading('hr', { seq: 1, ts: T0, values: { hr: 60 } }), batchId: 'aa' },
      { ...reading('hr', { seq: 2, ts: T0 + 1000, values: { hr: 61 } }), batchId: 'aa' },
      { ...reading('ecg', { seq: 3, ts: T0, rate: 250, samples: [1, 2] }), batchId: 'bb' },
    ];
    const batches: FhirBatch[] = [
      { id: 'aa', recorded: T0 + 2100, firstTs: T0, lastTs: T0 + 1000, anchor: { root, txHash: tx } },
      { id: 'bb', recorded: T0 + 2200, firstTs: T0, lastTs: T0 + 4 },
      { id: 'cc', recorded: T0 + 2300, firstTs: T0, lastTs: T0 + 4 },
    ];
    const { bundle, counts } = toFhirBundle({ patientId: 'p-1', gateway: GATEWAY, readings, batches });
    validateAll(bundle);
    assert.equal(counts.provenances, 2, 'a batch none of whose readings is exported has no Provenance');
    const [a, b] = resources(bundle, 'Provenance');
    assert.equal(a!.target.length, 2);
    assert.deepEqual(a!.entity.map((e) => [e.what.identifier!.system, e.what.identifier!.value]), [[FHIR_ID_SYSTEM.batch, 'aa'], [FHIR_ID_SYSTEM.merkleRoot, root], [FHIR_ID_SYSTEM.anchorTx, tx]]);
    assert.deepEqual(b!.entity.map((e) => e.what.identifier!.value), ['bb']);
    assert.equal(a!.recorded, new Date(T0 + 2100).toISOString());
    assert.equal(a!.agent[0]!.who.reference, bundle.entry[1]!.fullUrl);
    assert.deepEqual(fromFhirBundle(bundle).batches, batches.slice(0, 2));
  });

  it('round-trips any readings exactly: readings → FHIR (schema-valid) → readings', () => {
    const arb = fc.tuple(
      fc.array(fc.tuple(fc.constantFrom('strap-1', 'ox.2', 'cuff_3'), fc.nat(1e9)), { maxLength: 25 }).chain((ids) =>
        fc.tuple(...ids.map(([d], i) => scalarReading(d, i)))),
      fc.array(fc.constantFrom('strap-1', 'ox.2'), { maxLength: 3 }).chain((ds) => fc.tuple(...ds.map((d, i) => waveformRun(d, 100_000 * (i + 1))))),
      batchesArb,
    );
    fc.assert(fc.property(arb, ([scalars, waves, batches]) => {
      const readings = [...scalars, ...waves.flat()];
      const { bundle } = toFhirBundle({ patientId: 'patient-7', gateway: GATEWAY, readings, batches, timestamp: T0 });
      validateAll(bundle);
      for (const o of resources(bundle, 'Observation')) {
        const sd = o.valueSampledData;
        if (sd) assert.ok(sd.data!.split(' ').length / sd.dimensions <= Math.floor(rateFromPeriod(sd.period) * 10), 'at most 10 s per Observation');
      }
      const back = fromFhirBundle(JSON.parse(JSON.stringify(bundle)) as FhirBundle);
      assert.equal(back.patientId, 'patient-7');
      assert.deepEqual(back.gateway, GATEWAY);
      assert.deepEqual(back.readings, withoutBatch(sortReadings(readings)));
      const cited = new Set(readings.map((r) => r.batchId));
      assert.deepEqual(back.batches, batches.filter((b) => cited.has(b.id)));
    }), { numRuns: 60 });
  });

  it('keeps the mapping browser-safe: no node: imports under protocol/src/fhir', () => {
    const dir = new URL('../../src/fhir/', import.meta.url);
    const files = readdirSync(dir).filter((f) => f.endsWith('.ts'));
    assert.ok(files.length >= 6);
    for (const f of files) assert.doesNotMatch(readFileSync(new URL(f, dir), 'utf8'), /from '(node:|fs|path|crypto)/, f);
  });
});
