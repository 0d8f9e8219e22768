/**
 * The BLE source behind its peripheral seam. No radio here: a stand-in central hands the source
 * peripherals whose notifications are the real GATT payloads from ../shared/vectors/gatt.json.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { hexToBytes } from '@noble/hashes/utils.js';
import { validateBody, type ReadingBody, type StreamName } from '@vitalgate/protocol';
import {
  BleSource, bleDeviceId, decodeGatt, encodeBloodPressure, encodeGlucose, encodeHeartRate, encodePlxContinuous,
  encodeReadingAsGatt, encodeTemperature, gattToReadings, HEALTH_SERVICES, type BleCentral, type BlePeripheral, type ReadingSink,
} from '../../src/index.js';

const vectors = (JSON.parse(readFileSync(new URL('../../../../../shared/vectors/gatt.json', import.meta.url), 'utf8')) as {
  vectors: Array<{ uuid: string; hex: string; expect?: Record<string, unknown>; invalid?: string }>;
}).vectors;

class FakePeripheral implements BlePeripheral {
  readonly handlers = new Map<string, (v: Uint8Array) => void>();
  private readonly gone: Array<() => void> = [];
  constructor(readonly id: string, readonly name: string, readonly services: string[]) {}
  async subscribe(c: string, onValue: (v: Uint8Array) => void) { this.handlers.set(c, onValue); }
  onDisconnect(cb: () => void) { this.gone.push(cb); }
  async disconnect() { for (const cb of this.gone) cb(); }
  notify(c: string, hex: string) { this.handlers.get(c)?.(hexToBytes(hex)); }
}

class FakeCentral implements BleCentral {
  scannedFor: readonly string[] = [];
  private onP: ((p: BlePeripheral) => void) | undefined;
  async start(services: readonly string[], onPeripheral: (p: BlePeripheral) => void) { this.scannedFor = services; this.onP = onPeripheral; }
  async stop() {}
  appear(p: BlePeripheral) { this.onP?.(p); }
}

const tick = () => new Promise((r) => setTimeout(r, 5));

describe('BLE source (stand-in radio, real notification bytes)', () => {
  it('takes only the patient\'s own peripherals: a neighbour\'s strap is never subscribed, and is counted', async () => {
    const got: Array<{ deviceId: string; stream: StreamName }> = [];
    const sink: ReadingSink = { acceptReading: (_p, deviceId, stream) => void got.push({ deviceId, stream }) };
    const central = new FakeCentral();
    const src = new BleSource({ central, patientId: 'p-own', allow: ['c8-4b-00-11-22-33'] });
    await src.start(sink);
    const mine = new FakePeripheral('C8:4B:00:11:22:33', 'HRM', ['180d']);
    const neighbour = new FakePeripheral('D0:0D:00:99:88:77', 'HRM', ['180d']);
    central.appear(mine);
    central.appear(neighbour);
    central.appear(neighbour); // it advertises again
    await tick();
    assert.deepEqual([...neighbour.handlers.keys()], [], 'never subscribed');
    const hr = vectors.find((v) => v.uuid === '2a37' && !v.invalid)!;
    mine.notify('2a37', hr.hex);
    assert.ok(got.length > 0);
    assert.ok(got.every((g) => g.deviceId === 'ble-c84b00112233'), JSON.stringify(got));
    const st = src.status();
    assert.deepEqual(st.ignored, { 'D0:0D:00:99:88:77': 2 });
    assert.deepEqual(Object.keys(st.peripherals), ['ble-c84b00112233']);
  });

  it('subscribes to the health measurements a peripheral offers and turns shared-vector notifications into readings', async () => {
    const got: Array<{ deviceId: string; stream: StreamName; body: ReadingBody }> = [];
    const sink: ReadingSink = { acceptReading: (_p, deviceId, stream, body) => void got.push({ deviceId, stream, body }) };
    const central = new FakeCentral();
    const src = new BleSource({ central, patientId: 'p-ble' });
    await src.start(sink);
    assert.deepEqual([...central.scannedFor].sort(), Object.keys(HEALTH_SERVICES).sort());

    const strap = new FakePeripheral('C8:4B:00:11:22:33', 'HRM', ['180d']);
    const thermo = new FakePeripheral('thermo-1', 'Thermo', ['1809', '180a']);
    central.appear(strap);
    central.appear(thermo);
    await tick();
    assert.deepEqual([...strap.handlers.keys()], ['2a37']);
    assert.deepEqual([...thermo.handlers.keys()], ['2a1c']);

    let expectedReadings = 0;
    let expectedErrors = 0;
    for (const v of vectors.filter((x) => x.uuid === '2a37' || x.uuid === '2a1c')) {
      (v.uuid === '2a37' ? strap : thermo).notify(v.uuid, v.hex);
      if (v.invalid) expectedErrors++;
      else {
        const d = decodeGatt(v.uuid, hexToBytes(v.hex));
        assert.ok(d.ok);
        expectedReadings += gattToReadings(d.value, { seq: 1, ts: Date.now() }).readings.length;
      }
    }
    const st = src.status();
    assert.ok(expectedReadings > 0 && expectedErrors > 0);
    assert.equal(got.length, expectedReadings);
    assert.equal(st.decodeErrors, expectedErrors);
    assert.equal(st.peripherals[bleDeviceId(strap.id)]?.connected, true);
    assert.ok(got.every((g) => validateBody(g.stream, g.body).ok));
    // Sequence numbers are strictly increasing per device, even within one millisecond.
    for (const id of new Set(got.map((g) => g.deviceId))) {
      const seqs = got.filter((g) => g.deviceId === id).map((g) => g.body.seq);
      assert.ok(seqs.every((s, i) => i === 0 || s > seqs[i - 1]!), `seqs of ${id}: ${seqs.join(',')}`);
    }
    assert.ok(got.some((g) => g.deviceId === 'ble-c84b00112233'));

    await strap.disconnect();
    assert.equal(src.status().peripherals['ble-c84b00112233']?.connected, false);
    central.appear(strap); // it advertises again and is picked up
    await tick();
    assert.equal(src.status().peripherals['ble-c84b00112233']?.connects, 2);
    await src.stop();
  });
});

describe('GATT encoders (for simulated devices)', () => {
  const roundTrip = (e: ReturnType<typeof encodeHeartRate>) => {
    const d = decodeGatt(e.characteristic, e.bytes);
    assert.ok(d.ok, d.ok ? '' : d.reason);
    const r = gattToReadings(d.value, { seq: 1, ts: Date.UTC(2026, 0, 1) });
    assert.equal(r.readings.length, 1, JSON.stringify(r.absent));
    const body = r.readings[0]!.body as { values: Record<string, number>; rr?: number[] };
    assert.deepEqual(body.values, e.values);
    assert.deepEqual(body.rr, e.rr);
  };
  it('round-trip through the decoders to exactly the values they claim', () => {
    roundTrip(encodeHeartRate(72.4, [812.3, 846.5]));
    roundTrip(encodeHeartRate(300));
    roundTrip(encodeTemperature(36.87));
    roundTrip(encodePlxContinuous(97.3, 72.4));
    roundTrip(encodeBloodPressure(121, 79, 93, 70));
    roundTrip(encodeGlucose(7, new Date(Date.UTC(2026, 0, 1, 8, 30)), 104));
  });
  it('round-trip any in-range values (property)', () => {
    fc.assert(fc.property(fc.double({ min: 20, max: 250, noNaN: true }), fc.array(fc.double({ min: 250, max: 2000, noNaN: true }), { maxLength: 5 }),
      (hr, rr) => roundTrip(encodeHeartRate(hr, rr))));
    fc.assert(fc.property(fc.double({ min: 30, max: 43, noNaN: true }), (t) => roundTrip(encodeTemperature(t))));
    fc.assert(fc.property(fc.double({ min: 50, max: 100, noNaN: true }), fc.double({ min: 30, max: 200, noNaN: true }), (s, p) => roundTrip(encodePlxContinuous(s, p))));
  });
  it('has no characteristic for waveforms', () => {
    assert.equal(encodeReadingAsGatt('ecg', { seq: 1, ts: 0, rate: 250, samples: [1] }), undefined);
  });
});
