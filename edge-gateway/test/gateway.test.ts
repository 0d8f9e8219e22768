import assert from 'node:assert/strict';
import { readFile, writeFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { encodeBody, readingTopic, sealBatch, type ReadingBody } from '@vitalgate/protocol';
import { startBroker } from '@vitalgate/broker';
import { BatchIndex, Gateway, readStore, type OpenedBatch } from '../src/index.js';
import { foreignCborHr } from '@vitalgate/test-support';
import { memoryLogger, TEST_SCRYPT, tempDir } from './helpers.js';

const PASS = 'gateway test passphrase';
const T0 = Date.UTC(2026, 10, 21, 12);
const te = new TextEncoder();

async function collect(dataDir: string): Promise<OpenedBatch[]> {
  const out: OpenedBatch[] = [];
  for await (const b of readStore(dataDir, PASS)) out.push(b);
  return out;
}
const readingsOf = (batches: OpenedBatch[]) => batches.flatMap((b) => (b.ok ? b.bodies.map((body) => ({ h: b.header, body })) : []));

describe('gateway', function () {
  this.timeout(30_000);

  it('seals valid readings, and counts and logs every bad one with its reason without stopping', async () => {
    const t = await tempDir();
    const { logger, lines } = memoryLogger();
    try {
      const gw = await Gateway.start({ dataDir: t.dir, passphrase: PASS, scrypt: TEST_SCRYPT, logger, batchWindowMs: 100 });
      const good: ReadingBody[] = [];
      for (let i = 0; i < 20; i++) {
        const body: ReadingBody = { seq: i, ts: T0 + i * 100, rate: 250, samples: [i, -2 * i - 1, 1000 + i] };
        good.push(body);
        gw.acceptMqtt(readingTopic('p1', 'd1', 'ecg'), encodeBody(body, i % 2 ? 'cbor' : 'json'));
      }
      gw.acceptMqtt(readingTopic('p1', 'd1', 'hr'), te.encode('{"seq":1,"ts":' + T0 + ',"values":{"hr":"fast"}}'));
      gw.acceptMqtt(readingTopic('p1', 'd1', 'spo2'), te.encode('{"seq":2,"ts":' + T0 + ',"values":{"spo2":140}}'));
      gw.acceptMqtt('vg/v1/p1/d1/unknown', te.encode('{}'));
      gw.acceptMqtt('elsewhere', te.encode('{}'));
      gw.acceptMqtt(readingTopic('p1', 'd1', 'ecg'), new Uint8Array([0xa5, 0xff, 0x00]));
      gw.acceptMqtt(readingTopic('p1', 'd1', 'ecg'), encodeBody(good[3]!, 'json')); // a QoS 1 redelivery
      gw.acceptMqtt('vg/v1/p1/d1/status', te.encode('{"battery":80}'));
      await gw.stop();
      const m = gw.metrics();
      assert.equal(m.messagesReceived, 27);
      assert.equal(m.readingsAccepted, 20);
      assert.equal(m.readingsSealed, 20);
      assert.equal(m.rejected, 5);
      assert.equal(m.duplicates, 1);
      assert.equal(m.statusMessages, 1);
      const warned = lines.filter((l) => l.msg === 'rejected message').map((l) => String(l.reason));
      assert.equal(warned.length, 5);
      assert.ok(warned.some((r) => /hr must be a finite number/.test(r)));
      assert.ok(warned.some((r) => /spo2 is outside 0..100 %/.test(r)));
      assert.ok(warned.some((r) => /unknown stream "unknown"/.test(r)));
      assert.ok(warned.some((r) => /malformed CBOR/.test(r)));
      const got = readingsOf(await collect(t.dir));
      assert.deepEqual(got.map((r) => r.body).sort((a, b) => a.seq - b.seq), good);
      assert.ok(got.every((r) => r.h.patientId === 'p1' && r.h.deviceId === 'd1' && r.h.stream === 'ecg'));
    } finally {
      await t.cleanup();
    }
  });

  it('logs why a reading was refused (field and rule) but never the reading\'s values', async () => {
    const t = await tempDir();
    const { logger, lines } = memoryLogger();
    try {
      const gw = await Gateway.start({ dataDir: t.dir, passphrase: PASS, scrypt: TEST_SCRYPT, logger, batchWindowMs: 100 });
      const topic = readingTopic('p-log', 'd-log', 'hr');
      gw.acceptMqtt(topic, te.encode('{"seq":1,"ts":' + T0 + ',"values":{"hr":987.654321}}'));
      gw.acceptMqtt(topic, te.encode('{"seq":2,"ts":' + T0 + ',"values":{"hr":242.5,"x":undefined}}'));
      gw.acceptMqtt(topic, te.encode('{"seq":3,"ts":91234567890123,"values":{"hr":61}}'));
      gw.acceptMqtt(readingTopic('p-log', 'd-log', 'bp'), te.encode('{"seq":4,"ts":' + T0 + ',"values":{"sys":876.5,"dia":80}}'));
      await gw.stop();
      assert.equal(gw.metrics().rejected, 4);
      const text = lines.map((l) => JSON.stringify(l)).join('\n');
      for (const value of ['987.65', '242.5', '91234567890123', '876.5']) assert.ok(!text.includes(value), `the log carries the value ${value}`);
      const reasons = lines.filter((l) => l.msg === 'rejected message').map((l) => String(l.reason));
      assert.ok(reasons.some((r) => /^hr is outside/.test(r)), reasons.join('; '));
      assert.ok(reasons.some((r) => /^ts is outside/.test(r)), reasons.join('; '));
    } finally {
      await t.cleanup();
    }
  });

  it('seals a CBOR payload as it came, even one another encoder wrote or one inside a larger buffer, and it opens to the body validated', async () => {
    const t = await tempDir();
    try {
      const gw = await Gateway.start({ dataDir: t.dir, passphrase: PASS, scrypt: TEST_SCRYPT, logger: memoryLogger().logger, batchWindowMs: 100 });
      const topic = readingTopic('p-raw', 'd-raw', 'hr');
      const foreign = foreignCborHr(1, T0);
      // A broker's parser hands over views into the bytes it read: only the view is the payload.
      const read = new Uint8Array(foreign.length + 20).fill(0xa5);
      read.set(foreign, 10);
      gw.acceptMqtt(topic, read.subarray(10, 10 + foreign.length));
      const ours: ReadingBody = { seq: 2, ts: T0 + 1000, values: { hr: 64 }, rr: [901] };
      gw.acceptMqtt(topic, encodeBody(ours, 'cbor'));
      gw.acceptMqtt(topic, encodeBody({ seq: 3, ts: T0 + 2000, values: { hr: 65 } }, 'json'));
      const sizes: number[] = [];
      gw.on('sealed', (recs) => sizes.push(...recs.filter((r) => !r.kind).map((r) => r.bytes)));
      await gw.stop();
      assert.equal(gw.metrics().batchesSealed, 1);
      const got = readingsOf(await collect(t.dir)).map((r) => r.body);
      assert.deepEqual(got, [{ seq: 1, ts: T0, values: { hr: 71.5 }, rr: [840.5] }, ours, { seq: 3, ts: T0 + 2000, values: { hr: 65 } }]);
      // The foreign payload's float64s are longer than our encoding of the same body: the size tells which was sealed.
      const input = { stream: 'hr' as const, patientId: 'p-raw', deviceId: 'd-raw', epoch: 0, seq: 0, bodies: got };
      const asSent = sealBatch(new Uint8Array(32), { ...input, asReceived: [foreign, undefined, undefined] }).bytes.length;
      assert.ok(asSent > sealBatch(new Uint8Array(32), input).bytes.length);
      assert.deepEqual(sizes, [asSent]);
    } finally {
      await t.cleanup();
    }
  });

  it('batches per (patient, stream, device), numbering batches on across restarts', async () => {
    const t = await tempDir();
    const { logger } = memoryLogger();
    try {
      for (let run = 0; run < 2; run++) {
        const gw = await Gateway.start({ dataDir: t.dir, passphrase: PASS, scrypt: TEST_SCRYPT, logger });
        for (const [p, d, s] of [['a', 'x', 'hr'], ['a', 'y', 'hr'], ['b', 'x', 'hr'], ['a', 'x', 'temp']] as const) {
          const body: ReadingBody = s === 'hr' ? { seq: run, ts: T0, values: { hr: 60 } } : { seq: run, ts: T0, values: { temp: 36.6 } };
          gw.acceptReading(p, d, s, body);
        }
        await gw.stop();
      }
      const all = await BatchIndex.load(join(t.dir, 'index.jsonl'));
      // Beside them, each stop sealed the summaries of what it had (numbered on their own).
      assert.ok(all.some((r) => r.kind === 'summary-1m'));
      const idx = all.filter((r) => !r.kind);
      assert.equal(idx.length, 8);
      const seqs = idx.filter((r) => r.patientId === 'a' && r.deviceId === 'x' && r.stream === 'hr').map((r) => r.seq);
      assert.deepEqual(seqs, [0, 1]);
      const epochs = idx.map((r) => r.epoch);
      assert.ok(epochs.slice(4).every((e) => e > epochs[0]!), 'a restarted gateway starts a new epoch');
    } finally {
      await t.cleanup();
    }
  });

  it('rotates epochs on demand and on the timer; every epoch opens with its own key', async () => {
    const t = await tempDir();
    const { logger } = memoryLogger();
    try {
      const P = 1500;
      const gw = await Gateway.start({ dataDir: t.dir, passphrase: PASS, scrypt: TEST_SCRYPT, logger, batchWindowMs: 20, epochPeriodMs: P });
      // Start just after a period boundary so the on-demand part cannot straddle one on a busy machine.
      const sleepUntilAfterBoundary = () => new Promise((r) => setTimeout(r, P - (Date.now() % P) + 30));
      let seq = 0;
      const feed = () => gw.acceptReading('p', 'd', 'hr', { seq: seq++, ts: T0 + seq, values: { hr: 70 } });
      await sleepUntilAfterBoundary();
      feed();
      await gw.flush(); // seals under the epoch the boundary we just crossed started
      const startEpoch = gw.metrics().epoch;
      const demand = await gw.rotateEpoch();
      assert.equal(demand.epoch, startEpoch + 1);
      assert.equal(demand.reason, 'demand');
      feed();
      await gw.flush();
      await sleepUntilAfterBoundary();
      feed();
      await gw.flush();
      await gw.stop();
      const batches = await collect(t.dir);
      assert.ok(batches.every((b) => b.ok));
      const epochs = batches.map((b) => b.header!.epoch).sort((a, b) => a - b);
      assert.deepEqual(epochs, [startEpoch, startEpoch + 1, startEpoch + 2]);
      const log = (await readFile(join(t.dir, 'epochs.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as { reason: string });
      assert.ok(log.some((r) => r.reason === 'timer'));
    } finally {
      await t.cleanup();
    }
  });

  it('reports a tampered batch file and a wrong passphrase, and still opens the rest', async () => {
    const t = await tempDir();
    const { logger } = memoryLogger();
    try {
      // Readings only, so that the one flush at stop writes one pack.
      const gw = await Gateway.start({ dataDir: t.dir, passphrase: PASS, scrypt: TEST_SCRYPT, logger, summaries: false });
      gw.acceptReading('p', 'd', 'hr', { seq: 1, ts: T0, values: { hr: 70 } });
      gw.acceptReading('p', 'd', 'temp', { seq: 2, ts: T0, values: { temp: 37 } });
      await gw.stop();
      const packs = await readdir(join(t.dir, 'store', 'packs'));
      assert.equal(packs.length, 1, 'one flush, one pack');
      const file = join(t.dir, 'store', 'packs', packs[0]!);
      const bytes = await readFile(file);
      bytes[bytes.length - 3]! ^= 0x10; // inside the last batch's tag
      await writeFile(file, bytes);
      const batches = await collect(t.dir);
      assert.equal(batches.filter((b) => b.ok).length, 1, 'the untouched batch still opens');
      const reasons = batches.filter((b) => !b.ok).map((b) => (b.ok ? '' : b.reason));
      assert.ok(reasons.some((r) => /pack content does not hash to its name/.test(r)), reasons.join('; '));
      assert.ok(reasons.some((r) => /authentication failed/.test(r)), reasons.join('; '));
      assert.ok(reasons.some((r) => /listed in the index but in no pack/.test(r)), reasons.join('; '));
      await assert.rejects(async () => {
        for await (const _ of readStore(t.dir, 'not the passphrase')) void _;
      }, /wrong passphrase/);
    } finally {
      await t.cleanup();
    }
  });

  it('stores no plaintext: no reading appears in any file of the data directory', async () => {
    const t = await tempDir();
    const { logger } = memoryLogger();
    try {
      const gw = await Gateway.start({ dataDir: t.dir, passphrase: PASS, scrypt: TEST_SCRYPT, logger });
      const body = { seq: 77, ts: T0, rate: 250, samples: [123456, -98765, 424242, 31337] };
      gw.acceptReading('p', 'd', 'ecg', body);
      await gw.stop();
      const needles = [Buffer.from(encodeBody(body, 'cbor')), Buffer.from(encodeBody(body, 'json')), Buffer.from('samples'), Buffer.from('123456')];
      const { readdir: rd } = await import('node:fs/promises');
      const files = (await rd(t.dir, { recursive: true, withFileTypes: true })).filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name));
      assert.ok(files.length >= 4);
      for (const f of files) {
        const content = await readFile(f);
        for (const n of needles) assert.equal(content.indexOf(n), -1, `${f} contains plaintext ${n.toString('hex').slice(0, 20)}`);
      }
    } finally {
      await t.cleanup();
    }
  });

  it('takes readings from a real broker, survives garbage publishes, and seals exactly what was sent', async () => {
    const t = await tempDir();
    const { logger } = memoryLogger();
    const broker = await startBroker({ port: 0 });
    try {
      const gw = await Gateway.start({ dataDir: t.dir, passphrase: PASS, scrypt: TEST_SCRYPT, logger, brokerUrl: broker.url, batchWindowMs: 200 });
      const dev = await mqtt.connectAsync(broker.url, { clientId: 'dev-1' });
      const sent: ReadingBody[] = [];
      for (let i = 0; i < 200; i++) {
        const body = { seq: i, ts: T0 + i * 1000, values: { spo2: 90 + (i % 10), pr: 70 } };
        sent.push(body);
        await dev.publishAsync(readingTopic('p9', 'dev-1', 'spo2'), Buffer.from(encodeBody(body, 'cbor')), { qos: 1 });
        if (i % 20 === 0) await dev.publishAsync(readingTopic('p9', 'dev-1', 'spo2'), Buffer.from([0xde, 0xad, 0xbe, 0xef]), { qos: 1 });
      }
      await dev.endAsync();
      await new Promise((r) => setTimeout(r, 300));
      await gw.stop();
      assert.equal(gw.metrics().rejected, 10);
      const got = readingsOf(await collect(t.dir)).map((r) => r.body).sort((a, b) => a.seq - b.seq);
      assert.deepEqual(got, sent);
    } finally {
      await broker.close();
      await t.cleanup();
    }
  });
});
