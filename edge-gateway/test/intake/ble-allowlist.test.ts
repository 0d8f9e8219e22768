/**
 * A neighbour's strap in radio range must not write into the patient's record. Over the BLE-sim
 * hub (a real socket; the bytes are the shared GATT vectors), the gateway subscribes only to the
 * patient's listed peripheral; the neighbour is never subscribed, even a notification forced onto
 * the link in its name is refused, and both are counted.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { hexToBytes } from '@noble/hashes/utils.js';
import { BleSimHub } from '@vitalgate/device-sim';
import { decodeGatt, gattToReadings } from '@vitalgate/firmware-bridge';
import { Gateway, readStore } from '../../src/index.js';
import { memoryLogger, TEST_SCRYPT, tempDir } from '../helpers.js';

const vectors = (JSON.parse(readFileSync(new URL('../../../../../shared/vectors/gatt.json', import.meta.url), 'utf8')) as {
  vectors: Array<{ uuid: string; hex: string; invalid?: string }>;
}).vectors;
const PASS = 'ble allowlist passphrase';

describe('BLE allowlist through the gateway (BLE-sim hub, shared GATT vectors)', function () {
  this.timeout(20_000);

  it('seals readings of the patient\'s own peripheral only; the neighbour\'s are ignored and counted', async () => {
    const t = await tempDir();
    const hub = await BleSimHub.listen(0);
    try {
      const mine = hub.addPeripheral({ id: 'oxi-1', name: 'HRM', services: ['180d'] });
      const neighbour = hub.addPeripheral({ id: 'nb-strap', name: 'HRM', services: ['180d'] });
      const gw = await Gateway.start({ dataDir: t.dir, passphrase: PASS, scrypt: TEST_SCRYPT, logger: memoryLogger().logger, batchWindowMs: 100, ble: [{ radio: hub.url, patientId: 'p-ble', devices: ['oxi-1'] }] });
      await mine.waitSubscribed(['2a37']);
      const hr = vectors.filter((v) => v.uuid === '2a37' && !v.invalid);
      for (const v of hr) assert.equal(mine.notify('2a37', hexToBytes(v.hex)), true);
      assert.equal(neighbour.notify('2a37', hexToBytes(hr[0]!.hex)), false, 'the gateway never subscribed to the neighbour');
      // A notification put on the link in the neighbour's name anyway.
      hub.send({ t: 'ntf', id: 'nb-strap', char: '2a37', hex: hr[0]!.hex });
      await new Promise((r) => setTimeout(r, 300));
      const ble = gw.metrics().ble[0]!;
      await gw.stop();
      assert.ok((ble.ignored['nb-strap'] ?? 0) >= 1, JSON.stringify(ble.ignored));
      const devices = new Set<string>();
      let readings = 0;
      for await (const b of readStore(t.dir, PASS)) {
        assert.ok(b.ok);
        devices.add(b.header.deviceId);
        readings += b.bodies.length;
      }
      assert.deepEqual([...devices], ['oxi-1']);
      const expected = hr.reduce((n, v) => {
        const d = decodeGatt('2a37', hexToBytes(v.hex));
        return n + (d.ok ? gattToReadings(d.value, { seq: 1, ts: Date.now() }).readings.length : 0);
      }, 0);
      assert.ok(expected > 0);
      assert.equal(readings, expected);
    } finally {
      await hub.close();
      await t.cleanup();
    }
  });
});
