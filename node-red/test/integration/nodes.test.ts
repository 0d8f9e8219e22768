/**
 * Every node of the palette in Node-RED's runtime (node-red-node-test-helper), loaded from its
 * CommonJS node file as Node-RED loads it.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { BatchIndex } from '@vitalgate/edge-gateway';
import { encodeBody, encodeFrame, readingTopic } from '@vitalgate/protocol';
import { startBroker, type RunningBroker } from '@vitalgate/broker';
import { registerAck } from '../../src/index.js';
import { assertFhirValid } from '@vitalgate/protocol/fhir-schema';
import { fromFhirBundle, type FhirBundle } from '@vitalgate/protocol';
import { initHelper, nodeFile, sleep, tempDir, until } from '../helpers.js';

const helper = initHelper();
const ALL = ['keystore', 'decode', 'device-in', 'seal', 'upload', 'fhir'].map(nodeFile);
type Msg = Record<string, any>;

function collect(id: string): Msg[] {
  const got: Msg[] = [];
  helper.getNode(id).on('input', (m: Msg) => got.push(m));
  return got;
}
function errors(id: string): string[] {
  const out: string[] = [];
  helper.getNode(id).on('call:error', (call: { args: unknown[] }) => out.push(String(call.args[0])));
  return out;
}
function lastStatus(id: string): () => string {
  let text = '';
  helper.getNode(id).on('call:status', (call: { args: Array<{ text?: string }> }) => { text = call.args[0]?.text ?? ''; });
  return () => text;
}

describe('node-red palette: every node in the Node-RED runtime', function () {
  this.timeout(30_000);
  before(() => helper.startServer());
  after(() => helper.stopServer());
  afterEach(() => helper.unload());

  describe('vitalgate-decode', () => {
    it('decodes a GATT heart-rate notification into readings numbered per device', async () => {
      await helper.load(ALL, [
        { id: 'd', type: 'vitalgate-decode', mode: 'gatt', characteristic: '2a37', patientId: 'p1', deviceId: 'strap', wires: [['out']] },
        { id: 'out', type: 'helper' },
      ]);
      const got = collect('out');
      // flags 0x10: RR present; HR 72; RR 1024/1024 s = 1000 ms
      helper.getNode('d').receive({ payload: Buffer.from([0x10, 72, 0x00, 0x04]) });
      helper.getNode('d').receive({ payload: '0648' });
      await until(() => got.length === 2, 'two readings');
      assert.equal(got[0]!.topic, readingTopic('p1', 'strap', 'hr'));
      assert.equal(got[0]!.payload.body.values.hr, 72);
      assert.deepEqual(got[0]!.payload.body.rr, [1000]);
      assert.equal(got[1]!.payload.body.values.hr, 72);
      assert.ok(got[1]!.payload.body.seq > got[0]!.payload.body.seq, 'seq increases per device');
    });

    it('decodes UART frames split across messages, and reports damaged ones as errors', async () => {
      await helper.load(ALL, [
        { id: 'd', type: 'vitalgate-decode', mode: 'uart', patientId: 'p2', wires: [['out']] },
        { id: 'out', type: 'helper' },
      ]);
      const got = collect('out');
      const errs = errors('d');
      const frame = encodeFrame({ type: 'scalar', deviceId: 'uart-1', seq: 7, deviceTime: 1_000, stream: 'spo2', values: { spo2: 97, pr: 64 } });
      const cut = Math.floor(frame.length / 2);
      helper.getNode('d').receive({ payload: Buffer.from(frame.subarray(0, cut)) });
      helper.getNode('d').receive({ payload: Buffer.from(frame.subarray(cut)) });
      await until(() => got.length === 1, 'one reading');
      assert.equal(got[0]!.payload.deviceId, 'uart-1');
      assert.equal(got[0]!.payload.stream, 'spo2');
      assert.equal(got[0]!.payload.body.seq, 7);
      assert.deepEqual(got[0]!.payload.body.values, { spo2: 97, pr: 64 });
      const bad = Buffer.from(frame);
      bad[3] = bad[3]! ^ 0xff;
      helper.getNode('d').receive({ payload: bad });
      await until(() => errs.length === 1, 'an error for the damaged frame');
      assert.equal(got.length, 1);
    });
  });

  describe('vitalgate-seal', () => {
    it('seals readings under the keystore, sends each batch, and acknowledges only once the batch is indexed', async () => {
      const t = await tempDir('vg-nr-seal-');
      try {
        const dataDir = join(t.dir, 'data');
        await helper.load(ALL, [
          { id: 'ks', type: 'vitalgate-keystore', dataDir, passphraseFile: t.passFile, batchWindowMs: '300' },
          { id: 's', type: 'vitalgate-seal', keystore: 'ks', wires: [['out']] },
          { id: 'out', type: 'helper' },
        ]);
        const got = collect('out');
        const acked: Array<{ seq: number; indexed: number }> = [];
        const ts = Date.now();
        for (let seq = 0; seq < 5; seq++) {
          const token = registerAck('test', () => {
            void BatchIndex.load(join(dataDir, 'index.jsonl')).then((recs) => acked.push({ seq, indexed: recs.filter((r) => !r.kind).reduce((n, r) => n + r.count, 0) }));
          });
          helper.getNode('s').receive({ payload: { patientId: 'p1', deviceId: 'strap', stream: 'hr', body: { seq, ts: ts + seq, values: { hr: 60 + seq } } }, vitalgate: { ack: token } });
        }
        await sleep(100);
        assert.equal(acked.length, 0, 'nothing acknowledged inside the batch window');
        await until(() => acked.length === 5, 'all five acknowledged');
        for (const a of acked) assert.equal(a.indexed, 5, `reading ${a.seq} acknowledged after its batch was indexed`);
        await until(() => got.length === 1, 'one batch out');
        assert.equal(got[0]!.payload.count, 5);
        assert.equal(got[0]!.payload.patientId, 'p1');
        assert.match(got[0]!.payload.id, /^[0-9a-f]{64}$/);

        const errs = errors('s');
        helper.getNode('s').receive({ payload: { patientId: 'p1', deviceId: 'strap', stream: 'hr', body: { seq: 9, ts, values: { hr: 'x' } } } });
        await until(() => errs.length === 1, 'an invalid reading ends in an error');
      } finally {
        await helper.unload();
        await t.cleanup();
      }
    });

    it('says so in its status when it has no keystore', async () => {
      await helper.load(ALL, [{ id: 's', type: 'vitalgate-seal', wires: [[]] }]);
      const errs = errors('s');
      helper.getNode('s').receive({ payload: {} });
      await until(() => errs.length === 1, 'error');
      assert.match(errs[0]!, /no vitalgate-keystore/);
    });
  });

  describe('vitalgate-device-in (MQTT)', () => {
    let broker: RunningBroker;
    before(async () => { broker = await startBroker({ port: 0 }); });
    after(() => broker.close());

    it('acknowledges a QoS 1 reading to the broker only once its token is: until then a restart gets it again', async () => {
      // A stable client id: the broker keeps the session, and its unacknowledged messages, across restarts.
      const flow = [
        { id: 'in', type: 'vitalgate-device-in', source: 'mqtt', broker: broker.url, clientId: 'nr-device-in-test', ack: 'durable', wires: [['out']] },
        { id: 'out', type: 'helper' },
      ];
      const start = async () => {
        await helper.load(ALL, flow);
        const got = collect('out');
        const status = lastStatus('in');
        await until(() => /^connected/.test(status()), 'connected status');
        return got;
      };
      let got = await start();
      const dev = mqtt.connect(broker.url, { clientId: 'dev-1' });
      try {
        await new Promise((r) => dev.once('connect', r));
        await dev.publishAsync(readingTopic('p9', 'band', 'hr'), Buffer.from(encodeBody({ seq: 1, ts: Date.now(), values: { hr: 70 } })), { qos: 1 });
        await until(() => got.length === 1, 'reading in the flow');
        assert.equal(got[0]!.payload.patientId, 'p9');
        assert.equal(got[0]!.payload.body.values.hr, 70);
        assert.equal(typeof got[0]!.vitalgate?.ack, 'string');

        // Not acknowledged (nothing sealed it): Node-RED stops; the broker still holds the reading.
        await helper.unload();
        got = await start();
        await until(() => got.length === 1, 'the unacknowledged reading delivered again after a restart');
        assert.equal(got[0]!.payload.body.seq, 1);
        const { acknowledge } = await import('../../src/index.js');
        acknowledge(got[0]!.vitalgate.ack);
        await sleep(300);

        // Acknowledged: a restart gets nothing again.
        await helper.unload();
        got = await start();
        await sleep(700);
        assert.equal(got.length, 0, 'an acknowledged reading is not delivered again');
      } finally {
        await dev.endAsync();
      }
    });
  });

  describe('vitalgate-upload', () => {
    it('refuses to run without the chain on its keystore (ingest requests are signed by the gateway account)', async () => {
      const t = await tempDir('vg-nr-up-');
      try {
        await helper.load(ALL, [
          { id: 'ks', type: 'vitalgate-keystore', dataDir: join(t.dir, 'data'), passphraseFile: t.passFile },
          { id: 'u', type: 'vitalgate-upload', keystore: 'ks', ingest: 'http://127.0.0.1:9', wires: [[]] },
        ]);
        const errs = errors('u');
        helper.getNode('u').receive({ payload: { id: 'a'.repeat(64) } });
        await until(() => errs.length === 1, 'error');
        assert.match(errs[0]!, /needs the chain/);
      } finally {
        await helper.unload();
        await t.cleanup();
      }
    });
  });

  describe('vitalgate-fhir', () => {
    it('turns readings into a schema-valid FHIR R4 Bundle that maps back to exactly those readings', async () => {
      await helper.load(ALL, [
        { id: 'f', type: 'vitalgate-fhir', gateway: 'edge-box-1', wires: [['out']] },
        { id: 'out', type: 'helper' },
      ]);
      const got = collect('out');
      const ts = Date.UTC(2026, 11, 4, 10, 0, 0);
      const readings = [
        { patientId: 'p1', deviceId: 'strap', stream: 'hr', body: { seq: 1, ts, values: { hr: 61 }, rr: [980, 990] } },
        { patientId: 'p1', deviceId: 'cuff', stream: 'bp', body: { seq: 7, ts: ts + 5000, values: { sys: 121, dia: 79 } } },
      ];
      helper.getNode('f').receive({ payload: readings });
      await until(() => got.length === 1, 'bundle out');
      const bundle = got[0]!.payload as FhirBundle;
      assert.equal(bundle.resourceType, 'Bundle');
      assertFhirValid(bundle);
      const back = fromFhirBundle(bundle);
      assert.deepEqual(back.readings.map((r) => ({ deviceId: r.deviceId, stream: r.stream, body: r.body })).sort((a, b) => a.body.ts - b.body.ts), readings.map(({ deviceId, stream, body }) => ({ deviceId, stream, body })));
      assert.ok(JSON.stringify(bundle).includes('edge-box-1'), 'the gateway Device named in the settings');
    });

    it('refuses a message of two patients, or a body that is not a reading, with an error', async () => {
      await helper.load(ALL, [{ id: 'f', type: 'vitalgate-fhir', wires: [[]] }]);
      const errs = errors('f');
      helper.getNode('f').receive({ payload: [
        { patientId: 'p1', deviceId: 'strap', stream: 'hr', body: { seq: 1, ts: Date.now(), values: { hr: 61 } } },
        { patientId: 'p2', deviceId: 'strap', stream: 'hr', body: { seq: 1, ts: Date.now(), values: { hr: 62 } } },
      ] });
      helper.getNode('f').receive({ payload: { patientId: 'p1', deviceId: 'strap', stream: 'hr', body: { seq: 1 } } });
      await until(() => errs.length === 2, 'two errors');
      assert.match(errs[0]!, /one patient per message/);
      assert.match(errs[1]!, /reading 0/);
    });
  });
});
