/**
 * vitalgate-device-in on its two device sources, with real parts: a serial port that is one end of
 * a socat pseudo-terminal pair (the test writes UART frames into the other end, through the
 * kernel's tty layer, as a device on a USB-serial cable), and BLE through the simulator's BLE-sim
 * hub, notifying the GATT payloads of the shared vectors (/work/shared/vectors/gatt.json, read at
 * run time). What comes out of the node must be exactly what was sent: count, seq, values.
 */
import assert from 'node:assert/strict';
import { constants as fsc } from 'node:fs';
import { mkdtemp, open, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeFrame, readingTopic, type UartFrame } from '@vitalgate/protocol';
import { BleSimHub, type BleSimPeripheral } from '@vitalgate/device-sim';
import { requireProgram, socatPair, type PtyPair } from '@vitalgate/test-support';
import { initHelper, nodeFile, sleep, until } from '../helpers.js';

const helper = initHelper();
const NODES = [nodeFile('device-in')];
const VECTORS = process.env.VITALGATE_VECTORS ?? '/work/shared/vectors';
type Msg = Record<string, any>;

function collect(id: string): Msg[] {
  const got: Msg[] = [];
  helper.getNode(id).on('input', (m: Msg) => got.push(m));
  return got;
}
function lastStatus(id: string): () => string {
  let text = '';
  helper.getNode(id).on('call:status', (call: { args: Array<{ text?: string }> }) => { text = call.args[0]?.text ?? ''; });
  return () => text;
}
/** What the node reported as errors and warnings (the gateway code's log lands in these). */
function problems(id: string): string[] {
  const out: string[] = [];
  helper.getNode(id).on('call:error', (call: { args: unknown[] }) => out.push(String(call.args[0])));
  helper.getNode(id).on('call:warn', (call: { args: unknown[] }) => out.push(String(call.args[0])));
  return out;
}

describe('node-red vitalgate-device-in: serial and BLE sources with real parts', function () {
  this.timeout(60_000);
  before(() => helper.startServer());
  after(() => helper.stopServer());
  afterEach(() => helper.unload());

  describe('serial (socat pseudo-terminal)', () => {
    let socat: string;
    let dir: string;
    let pair: PtyPair | undefined;
    before(async function () {
      socat = requireProgram(this, 'socat', 'socat');
      dir = await mkdtemp(join(tmpdir(), 'vg-nr-pty-'));
    });
    after(async () => {
      await pair?.close();
      if (dir) await rm(dir, { recursive: true, force: true });
    });

    it('turns UART frames written to the port into exactly those readings, and counts the line noise between them', async () => {
      pair = await socatPair({ socatPath: socat });
      await helper.load(NODES, [
        { id: 'in', type: 'vitalgate-device-in', source: 'serial', serialPath: pair.b, baudRate: '115200', patientId: 'p-uart', wires: [['out']] },
        { id: 'out', type: 'helper' },
      ]);
      const got = collect('out');
      const status = lastStatus('in');
      const errs = problems('in');
      await until(() => status().startsWith(`open ${pair!.b}`), () => `the node opened the port; status "${status()}"`);

      const boot = 500_000;
      const frames: Array<Extract<UartFrame, { type: 'scalar' | 'waveform' }>> = [];
      for (let seq = 0; seq < 20; seq++) {
        frames.push({ type: 'scalar', deviceId: 'uart-hr', seq: 100 + seq, deviceTime: boot + seq * 1000, stream: 'hr', values: { hr: 60 + seq }, rr: [1000 - seq, 990 + seq] });
        frames.push({ type: 'waveform', deviceId: 'uart-ecg', seq, deviceTime: boot + seq * 100, stream: 'ecg', rate: 250, samples: Array.from({ length: 25 }, (_, i) => (i * 37 + seq * 11) % 400 - 200) });
        if (seq % 5 === 0) frames.push({ type: 'scalar', deviceId: 'uart-hr', seq: 1000 + seq, deviceTime: boot + seq * 1000 + 1, stream: 'spo2', values: { spo2: 95 + seq / 5, pr: 70 } });
      }
      // Line noise: the framing vectors' COBS encodings (each ends with the 0x00 delimiter) are
      // well-formed COBS but no Vitalgate frame, so each must count as one bad frame and no reading.
      const framing = JSON.parse(await readFile(join(VECTORS, 'framing.json'), 'utf8')) as { cobs: Array<{ encoded: string }> };
      const noise = framing.cobs.map((c) => Buffer.from(c.encoded, 'hex'));
      assert.ok(noise.length > 0 && noise.every((n) => n.at(-1) === 0), 'framing vectors end with the frame delimiter');

      const dev = await open(pair.a, fsc.O_WRONLY | fsc.O_NOCTTY);
      const t0 = Date.now();
      try {
        let n = 0;
        for (const [i, f] of frames.entries()) {
          const bytes = Buffer.from(encodeFrame(f));
          // Some frames cut in two writes: a frame must be reassembled across reads from the port.
          if (i % 7 === 3) {
            await dev.write(bytes.subarray(0, 5));
            await sleep(15);
            await dev.write(bytes.subarray(5));
          } else await dev.write(bytes);
          if (i % 6 === 0 && n < noise.length) await dev.write(noise[n++]!);
        }
        while (n < noise.length) await dev.write(noise[n++]!);
      } finally {
        await dev.close();
      }
      // Readings from a device whose clock is not yet mapped are held up to 3 s (the source's default).
      await until(() => got.length >= frames.length, () => `${frames.length} readings out (have ${got.length}; status "${status()}")`, 15_000);
      await sleep(300);
      const t1 = Date.now();

      assert.equal(got.length, frames.length, 'one reading per frame, nothing more');
      const key = (deviceId: string, stream: string, seq: number) => `${deviceId}/${stream}/${seq}`;
      const sent = new Map(frames.map((f) => [key(f.deviceId, f.stream, f.seq), f]));
      const offsets = new Map<string, number[]>();
      const newest = new Map<string, number>();
      for (const m of got) {
        const { patientId, deviceId, stream, body } = m.payload;
        const f = sent.get(key(deviceId, stream, body.seq));
        assert.ok(f, `a reading nobody sent: ${key(deviceId, stream, body.seq)}`);
        sent.delete(key(deviceId, stream, body.seq));
        assert.equal(patientId, 'p-uart');
        assert.equal(m.topic, readingTopic('p-uart', deviceId, stream));
        if (f.type === 'waveform') {
          assert.equal(body.rate, f.rate);
          assert.deepEqual(body.samples, f.samples);
        } else {
          assert.deepEqual(body.values, f.values);
          assert.deepEqual(body.rr, f.rr);
        }
        offsets.set(deviceId, [...(offsets.get(deviceId) ?? []), body.ts - f.deviceTime]);
        newest.set(deviceId, Math.max(newest.get(deviceId) ?? 0, body.ts));
      }
      // Device time goes onto the wall clock by one offset per device (no handshake answered here,
      // so the least delayed frame bounds it): intervals between readings are kept, and the newest
      // reading lands at its arrival, not at the device's boot count.
      for (const [deviceId, o] of offsets) {
        assert.equal(new Set(o).size, 1, `${deviceId}: one clock offset for all its readings (${[...new Set(o)].join(',')})`);
        assert.ok(newest.get(deviceId)! >= t0 && newest.get(deviceId)! <= t1, `${deviceId}: newest ts ${newest.get(deviceId)} at its arrival (${t0}..${t1})`);
      }
      assert.deepEqual([...sent.keys()], [], 'frames that never came out');
      // Per device and stream, readings leave in the order the device sent them.
      for (const [deviceId, stream] of [['uart-hr', 'hr'], ['uart-ecg', 'ecg'], ['uart-hr', 'spo2']] as const) {
        assert.deepEqual(
          got.filter((m) => m.payload.deviceId === deviceId && m.payload.stream === stream).map((m) => m.payload.body.seq),
          frames.filter((f) => f.deviceId === deviceId && f.stream === stream).map((f) => f.seq),
          `${deviceId}/${stream} in order`,
        );
      }
      await until(() => status().includes(`${frames.length} readings, ${noise.length} bad frames`), () => `status counts ${frames.length} readings and ${noise.length} bad frames; last "${status()}"`, 3_000);
      assert.deepEqual(errs, []);
    });
  });

  describe('BLE (the simulator\'s BLE-sim hub)', () => {
    let hub: BleSimHub | undefined;
    after(() => hub?.close());

    interface GattVector { uuid: string; hex: string; invalid?: string; expect?: Record<string, unknown> }
    /**
     * What a vector's decoded values must become, by the reading model's rules (docs/formats.md),
     * written out here rather than taken from the decoder under test: RR in 1/1024 s → ms, unrounded,
     * only in (0, 10000] ms; a strap that supports contact detection and reports none gives no reading.
     */
    function expected(v: GattVector): { stream: string; values: Record<string, number>; rr?: number[] } | undefined {
      const e = v.expect;
      if (!e) return undefined;
      const n = (k: string) => e[k] as number;
      switch (v.uuid) {
        case '2a37': {
          if (e.contactSupported === true && e.contactDetected === false) return undefined;
          const rr = ((e.rrIntervals1024 as number[] | undefined) ?? []).map((r) => (r * 1000) / 1024).filter((ms) => ms > 0 && ms <= 10_000);
          return { stream: 'hr', values: { hr: n('heartRate') }, ...(rr.length && { rr }) };
        }
        case '2a1c':
          assert.equal(e.unit, 'Cel');
          return { stream: 'temp', values: { temp: n('temperature') } };
        case '2a35':
          assert.equal(e.unit, 'mm[Hg]');
          return { stream: 'bp', values: { sys: n('systolic'), dia: n('diastolic'), map: n('meanArterialPressure'), ...(e.pulseRate !== undefined && { pr: n('pulseRate') }) } };
        case '2a5f':
          return { stream: 'spo2', values: { spo2: n('spo2'), pr: n('pulseRate') } };
        default:
          throw new Error(`no expectation for characteristic ${v.uuid}: extend the test`);
      }
    }

    it('turns the GATT notifications of the vectors into exactly the readings they describe, only from allowed devices', async () => {
      const vectors = (JSON.parse(await readFile(join(VECTORS, 'gatt.json'), 'utf8')) as { vectors: GattVector[] }).vectors;
      hub = await BleSimHub.listen();
      const byChar: Record<string, { id: string; service: string }> = {
        '2a37': { id: 'ble-strap-1', service: '180d' },
        '2a1c': { id: 'ble-thermo-1', service: '1809' },
        '2a35': { id: 'ble-cuff-1', service: '1810' },
        '2a5f': { id: 'ble-oxi-1', service: '1822' },
      };
      const peripherals = new Map<string, BleSimPeripheral>();
      for (const { id, service } of Object.values(byChar)) peripherals.set(id, hub.addPeripheral({ id, name: id, services: [service] }));
      // A neighbour's strap in range: not on the allowlist, so never subscribed and never read.
      const neighbour = hub.addPeripheral({ id: 'ble-neighbour', name: 'neighbour', services: ['180d'] });

      await helper.load(NODES, [
        { id: 'in', type: 'vitalgate-device-in', source: 'ble', radio: hub.url, patientId: 'p-ble', devices: Object.values(byChar).map((c) => c.id).join(','), wires: [['out']] },
        { id: 'out', type: 'helper' },
      ]);
      const got = collect('out');
      const status = lastStatus('in');
      const warnings = problems('in');
      for (const [c, { id }] of Object.entries(byChar)) await peripherals.get(id)!.waitSubscribed([c]);
      await sleep(200);
      assert.equal(neighbour.notify('2a37', Uint8Array.from([0x00, 99])), false, 'the neighbour\'s strap was not subscribed');

      const want: Array<{ deviceId: string; stream: string; values: Record<string, number>; rr?: number[]; hex: string }> = [];
      const t0 = Date.now();
      for (const v of vectors) {
        const target = byChar[v.uuid];
        assert.ok(target, `a peripheral for characteristic ${v.uuid}`);
        assert.equal(peripherals.get(target.id)!.notify(v.uuid, Uint8Array.from(Buffer.from(v.hex, 'hex'))), true, `notified ${v.uuid} ${v.hex}`);
        const e = expected(v);
        if (e) want.push({ deviceId: target.id, ...e, hex: v.hex });
        await sleep(5);
      }
      await until(() => got.length >= want.length, () => `${want.length} readings out (have ${got.length}; status "${status()}")`);
      await sleep(500);
      const t1 = Date.now();

      assert.equal(got.length, want.length, `one reading per valid vector (${vectors.length} vectors, ${want.length} with a reading)`);
      for (const [i, w] of want.entries()) {
        const { patientId, deviceId, stream, body } = got[i]!.payload;
        const what = `vector ${w.hex}`;
        assert.equal(patientId, 'p-ble', what);
        assert.equal(deviceId, w.deviceId, what);
        assert.equal(stream, w.stream, what);
        assert.deepEqual(body.values, w.values, what);
        assert.deepEqual(body.rr, w.rr, what);
        assert.ok(body.ts >= t0 && body.ts <= t1, `${what}: ts ${body.ts} is its arrival (${t0}..${t1})`);
      }
      // GATT has no sequence numbers: the source numbers each device's readings, strictly increasing from arrival time.
      for (const id of peripherals.keys()) {
        const seqs = got.filter((m) => m.payload.deviceId === id).map((m) => m.payload.body.seq as number);
        assert.ok(seqs.length > 0, `readings from ${id}`);
        for (const [i, s] of seqs.entries()) {
          assert.ok(Number.isInteger(s) && s >= t0 && s <= t1 + seqs.length, `${id} seq ${s} from arrival time`);
          if (i) assert.ok(s > seqs[i - 1]!, `${id} seq strictly increasing: ${seqs.join(',')}`);
        }
      }
      // Each invalid vector is refused with a warning naming it, and the neighbour is reported once.
      const rejected = warnings.filter((w) => w.startsWith('rejected BLE notification'));
      assert.equal(rejected.length, vectors.filter((v) => v.invalid).length, rejected.join('\n'));
      assert.equal(warnings.filter((w) => /not on this patient's allowlist.*ble-neighbour/.test(w)).length, 1, warnings.join('\n'));
      assert.equal(warnings.length, rejected.length + 1, warnings.join('\n'));
      await until(() => status() === `${hub!.url}: ${peripherals.size} devices, ${want.length} readings`, () => `status "${hub!.url}: ${peripherals.size} devices, ${want.length} readings"; last "${status()}"`, 3_000);
    });
  });
});
