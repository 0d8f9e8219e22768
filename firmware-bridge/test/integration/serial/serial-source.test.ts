import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SerialPortStream } from '@serialport/stream';
import { decodeFrame, encodeFrame, FrameSplitter, type UartFrame } from '@vitalgate/protocol';
import { requireProgram, socatPair } from '@vitalgate/test-support';
import { SerialSource, type SerialBinding } from '../../../src/index.js';
import { collectingSink, ecgFrame, until } from '../../serial/helpers.js';

describe('serial source over a real pseudo-terminal (socat)', function () {
  this.timeout(30_000);
  let socat: string;
  let dir: string;
  before(async function () {
    socat = requireProgram(this, 'socat', 'socat');
    dir = await mkdtemp(join(tmpdir(), 'vg-pty-'));
  });
  after(async () => { if (dir) await rm(dir, { recursive: true, force: true }); });

  it('reads frames written to the other end, survives noise, and reopens when the port comes back', async () => {
    const links: [string, string] = [join(dir, 'device'), join(dir, 'gateway')];
    let pair = await socatPair({ socatPath: socat, links });
    const sink = collectingSink();
    const src = new SerialSource({ path: pair.b, patientId: 'p-pty', reopenMinMs: 50, reopenMaxMs: 200, timeSyncIntervalMs: 200, holdForClockMs: 0 });
    const { autoDetect } = await import('@serialport/bindings-cpp');
    const openDevice = async () => {
      const port = new SerialPortStream({ binding: autoDetect() as unknown as SerialBinding, path: links[0], baudRate: 115200 });
      await new Promise<void>((r, j) => port.once('open', () => r()).once('error', j));
      return port;
    };
    await src.start(sink);
    try {
      let dev = await openDevice();
      for (let s = 0; s < 50; s++) {
        if (s === 25) dev.write(Buffer.from([0xde, 0xad, 0xbe, 0xef, 0x00]));
        dev.write(Buffer.from(encodeFrame(ecgFrame(s))));
      }
      await until(() => sink.got.length === 50, 5000, '50 readings over the pty');
      assert.equal(src.status().badFrames, 1);
      // The device answers the gateway's time-sync requests over the same line.
      const requests: UartFrame[] = [];
      const sp = new FrameSplitter();
      dev.on('data', (b: Buffer) => { for (const f of sp.push(b)) { const d = decodeFrame(f); if (d.ok) requests.push(d.value); } });
      await until(() => requests.some((r) => r.type === 'time-sync-request'), 3000, 'time-sync request on the pty');

      // Unplug: socat goes away, both ptys vanish; then it comes back at the same paths.
      await new Promise<void>((r) => dev.close(() => r()));
      await pair.close();
      await until(() => !src.status().open, 5000, 'source notices the port is gone');
      pair = await socatPair({ socatPath: socat, links });
      await until(() => src.status().open, 5000, 'source reopens');
      dev = await openDevice();
      dev.write(Buffer.from(encodeFrame(ecgFrame(50))));
      await until(() => sink.got.length === 51, 5000, 'reading after reopen');
      assert.deepEqual(sink.got.map((g) => g.body.seq), Array.from({ length: 51 }, (_, i) => i));
      assert.ok(src.status().opens >= 2);
      await new Promise<void>((r) => dev.close(() => r()));
    } finally {
      await src.stop();
      await pair.close();
    }
  });
});
