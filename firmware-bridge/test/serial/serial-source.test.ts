import assert from 'node:assert/strict';
import { MockBinding, mockBinding } from './mock-binding.js';
import { SerialPortStream } from '@serialport/stream';
import fc from 'fast-check';
import { cobsEncode, decodeFrame, encodeFrame, encodeFrameRaw, FrameSplitter, type UartFrame } from '@vitalgate/protocol';
import { DeviceClock, SerialSource } from '../../src/index.js';
import { BOOT, collectingSink, ecgFrame, until } from './helpers.js';

describe('serial frame splitting', () => {
  it('splits at 0x00 across arbitrary chunk boundaries (property)', () => {
    fc.assert(fc.property(fc.array(fc.nat(200), { minLength: 1, maxLength: 20 }), fc.array(fc.integer({ min: 1, max: 50 }), { minLength: 1 }), (seqs, cuts) => {
      const wire = Buffer.concat(seqs.map((s) => Buffer.from(encodeFrame(ecgFrame(s)))));
      const sp = new FrameSplitter();
      const out: number[] = [];
      let o = 0;
      for (let i = 0; o < wire.length; i++) {
        const n = cuts[i % cuts.length]!;
        for (const f of sp.push(wire.subarray(o, o + n))) {
          const d = decodeFrame(f);
          assert.ok(d.ok);
          out.push(d.value.seq);
        }
        o += n;
      }
      assert.deepEqual(out, seqs);
    }));
  });

  it('drops an endless run without a delimiter and recovers at the next one, with bounded memory', () => {
    const sp = new FrameSplitter();
    for (let i = 0; i < 100; i++) assert.deepEqual(sp.push(new Uint8Array(1000).fill(0x55)), []);
    assert.ok(sp.buffered < 5000);
    assert.equal(sp.oversize, 1);
    const frames = sp.push(Buffer.concat([Buffer.from([0]), Buffer.from(encodeFrame(ecgFrame(7)))]));
    assert.equal(frames.length, 1);
    assert.equal((decodeFrame(frames[0]!) as { ok: true; value: UartFrame }).value.seq, 7);
  });
});

describe('device clock mapping', () => {
  it('prefers the handshake with the shortest round trip', () => {
    const c = new DeviceClock();
    c.observeArrival(500, 10_530); // arrival bound: offset <= 10030
    assert.equal(c.estimate?.source, 'arrival');
    c.observeHandshake(20_000, 10_010, 20_040); // rtt 40 → offset 20020 - 10010 = 10010
    assert.equal(c.toWall(10_010), 20_020);
    c.observeHandshake(30_000, 20_003, 30_010); // rtt 10 → better
    assert.equal(c.estimate?.offsetMs, 30_005 - 20_003);
    c.observeHandshake(40_000, 30_000, 40_100); // worse, ignored
    assert.equal(c.estimate?.uncertaintyMs, 5);
    c.observeArrival(0, 0); // arrivals never override a handshake
    assert.equal(c.estimate?.source, 'handshake');
  });
});

describe('serial source (MockBinding)', () => {
  const PATH = '/dev/vitalgate-mock';
  beforeEach(() => {
    MockBinding.reset();
    MockBinding.createPort(PATH, { echo: false, record: true });
  });

  const mockPort = (src: SerialSource) => (src as unknown as { port: SerialPortStream }).port;
  const emit = (src: SerialSource, bytes: Uint8Array) => (mockPort(src).port as unknown as { emitData(b: Buffer): void }).emitData(Buffer.from(bytes));

  it('delivers good frames, counts every bad one, and resynchronises after garbage, truncation and bit flips', async () => {
    const sink = collectingSink();
    // This device never answers time-sync requests: no holding for a clock mapping here.
    const src = new SerialSource({ path: PATH, patientId: 'pat-7', binding: mockBinding, holdForClockMs: 0 });
    await src.start(sink);
    try {
      const good = (s: number) => encodeFrame(ecgFrame(s));
      const flippedRaw = encodeFrameRaw(ecgFrame(3));
      flippedRaw[12]! ^= 0x04; // a bit flipped on the line inside an intact COBS block
      const flipped = cobsEncode(flippedRaw);
      const truncated = good(4).slice(0, 20);
      const wire = Buffer.concat([
        Buffer.from(good(1)),
        Buffer.from([0x13, 0x37, 0xff, 0x42]), // line noise, then the next frame's bytes run into it
        Buffer.from([0x00]),
        Buffer.from(good(2)),
        Buffer.from(flipped),
        Buffer.from(truncated), Buffer.from([0x00]),
        Buffer.from(cobsEncode(new Uint8Array([1, 2, 3]))), // COBS-valid, too short to be a frame
        Buffer.from(good(5)),
        Buffer.from(encodeFrame({ type: 'status', deviceId: 'strap-1', seq: 1, deviceTime: BOOT, battery: 41, leadOff: true, sensorError: false, charging: false, errorCode: 0 })),
        Buffer.from(good(6)),
      ]);
      // Deliver in awkward pieces, as a UART FIFO would.
      for (let o = 0; o < wire.length; o += 7) emit(src, wire.subarray(o, o + 7));
      await until(() => sink.got.length === 4, 3000, 'four readings');
      assert.deepEqual(sink.got.map((g) => g.body.seq), [1, 2, 5, 6]);
      assert.ok(sink.got.every((g) => g.patientId === 'pat-7' && g.deviceId === 'strap-1' && g.stream === 'ecg'));
      const st = src.status();
      assert.equal(st.badFrames, 4);
      assert.deepEqual(st.badFramesByReason, { COBS: 2, 'CRC mismatch': 1, 'frame of': 1 });
      assert.equal(st.devices['strap-1']?.battery, 41);
      assert.equal(st.devices['strap-1']?.leadOff, true);
      // The gateway asked the new device for its time.
      const written = (mockPort(src).port as unknown as { recording: Buffer }).recording;
      const req = new FrameSplitter().push(written).map((f) => decodeFrame(f)).find((d) => d.ok && d.value.type === 'time-sync-request');
      assert.ok(req, 'a time-sync request was written to the device');
    } finally {
      await src.stop();
    }
  });

  it('holds early readings until the handshake maps device time to wall time', async () => {
    const sink = collectingSink();
    const src = new SerialSource({ path: PATH, patientId: 'p', binding: mockBinding });
    await src.start(sink);
    try {
      const skew = 1_234_567; // device clock = wall − skew
      const firstSampledAt = Date.now() - 300; // the frame arrives late: arrival time alone would be 300 ms off
      emit(src, encodeFrame({ ...ecgFrame(0), deviceTime: firstSampledAt - skew }));
      const port = mockPort(src).port as unknown as { recording: Buffer };
      await until(() => port.recording.length > 0, 2000, 'time-sync request');
      assert.equal(sink.got.length, 0, 'held until the clock is known');
      assert.equal(src.status().heldReadings, 1);
      const req = new FrameSplitter().push(port.recording).map((f) => decodeFrame(f)).filter((d) => d.ok && d.value.type === 'time-sync-request').at(-1);
      assert.ok(req?.ok && req.value.type === 'time-sync-request');
      // Answer promptly, as firmware would.
      emit(src, encodeFrame({ type: 'time-sync-response', deviceId: 'strap-1', seq: 0, deviceTime: Date.now() - skew, gatewayTime: req.value.gatewayTime }));
      await until(() => sink.got.length === 1, 2000, 'release after the handshake');
      assert.equal(src.status().devices['strap-1']?.clock?.source, 'handshake');
      assert.ok(Math.abs(sink.got[0]!.body.ts - firstSampledAt) < 30, `ts ${sink.got[0]!.body.ts} vs ${firstSampledAt}`);
      const deviceNow = Date.now() - skew;
      emit(src, encodeFrame({ ...ecgFrame(1), deviceTime: deviceNow }));
      await until(() => sink.got.length === 2);
      assert.ok(Math.abs(sink.got[1]!.body.ts - (deviceNow + skew)) < 30, `ts ${sink.got[1]!.body.ts} vs ${deviceNow + skew}`);
    } finally {
      await src.stop();
    }
  });

  it('releases held readings with the best estimate when a device never answers', async () => {
    const sink = collectingSink();
    const src = new SerialSource({ path: PATH, patientId: 'p', binding: mockBinding, holdForClockMs: 300 });
    await src.start(sink);
    try {
      emit(src, encodeFrame(ecgFrame(0)));
      await new Promise((r) => setTimeout(r, 100));
      assert.equal(sink.got.length, 0);
      await until(() => sink.got.length === 1, 2000, 'release after the wait');
      assert.equal(src.status().devices['strap-1']?.clock?.source, 'arrival');
    } finally {
      await src.stop();
    }
  });

  it('reopens with backoff when the port disappears, and says so in its status', async () => {
    const sink = collectingSink();
    const src = new SerialSource({ path: PATH, patientId: 'p', binding: mockBinding, reopenMinMs: 20, reopenMaxMs: 100, holdForClockMs: 0 });
    await src.start(sink);
    try {
      assert.equal(src.status().open, true);
      MockBinding.reset(); // the adapter is unplugged …
      mockPort(src).close();
      await until(() => src.status().reopenAttempts >= 2, 3000, 'reopen attempts');
      assert.equal(src.status().open, false);
      assert.match(src.status().lastError ?? '', /does not exist|not exist|No such/i);
      MockBinding.createPort(PATH, { echo: false, record: true }); // … and plugged back in
      await until(() => src.status().open, 3000, 'reopened');
      emit(src, encodeFrame(ecgFrame(9)));
      await until(() => sink.got.length === 1);
      assert.equal(src.status().opens, 2);
    } finally {
      await src.stop();
    }
  });
});
