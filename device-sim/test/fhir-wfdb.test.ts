/**
 * A real ECG through the FHIR export and back: PhysioNet MIT-BIH record 100 (Goldberger et al.,
 * Circulation 2000; Moody & Mark 2001), replayed as a live device, becomes schema-valid
 * valueSampledData Observations of at most 10 s and comes back sample for sample.
 */
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { fromFhirBundle, sortReadings, toFhirBundle, type FhirBundle, type FhirReading } from '@vitalgate/protocol';
import { assertFhirValid } from '@vitalgate/protocol/fhir-schema';
import { ReplayDevice } from '../src/index.js';

const rec = (name: string) => fileURLToPath(new URL(`../../../../shared/data/physionet/${name}.hea`, import.meta.url));

describe('FHIR export of a PhysioNet ECG', () => {
  it('round-trips one minute of MIT-BIH record 100 (MLII, 360 Hz) exactly, in schema-valid Observations of ≤ 10 s', async () => {
    const dev = await ReplayDevice.open(rec('100'), { deviceId: 'mitbih-100', patientId: 'p-100' });
    const t0 = Date.UTC(2026, 2, 1, 8, 0, 0);
    dev.start(t0);
    const readings: FhirReading[] = dev.due(t0 + 60_000).filter((r) => r.stream === 'ecg').map((r) => ({ deviceId: 'mitbih-100', stream: r.stream, body: r.body }));
    const samples = readings.flatMap((r) => ('samples' in r.body ? r.body.samples : []));
    assert.equal(samples.length, 360 * 60, 'a minute at 360 Hz');
    // A real ECG: QRS complexes span well over a millivolt in MLII.
    assert.ok(Math.max(...samples) - Math.min(...samples) > 1000, 'R peaks present');
    const { bundle } = toFhirBundle({ patientId: 'p-100', gateway: { id: 'gw' }, readings });
    for (const e of bundle.entry) assertFhirValid(e.resource);
    assertFhirValid(bundle);
    const obs = bundle.entry.map((e) => e.resource).filter((r) => r.resourceType === 'Observation');
    assert.equal(obs.length, 6, 'six 10 s segments');
    for (const o of obs) {
      const sd = o.resourceType === 'Observation' ? o.valueSampledData! : undefined;
      assert.equal(sd!.data!.split(' ').length, 3600);
      assert.equal(sd!.period, 1000 / 360);
      assert.equal(o.resourceType === 'Observation' && o.code.coding![0]!.display, 'MDC_ECG_ELEC_POTL');
    }
    const back = fromFhirBundle(JSON.parse(JSON.stringify(bundle)) as FhirBundle);
    assert.deepEqual(back.readings, sortReadings(readings));
  });
});
