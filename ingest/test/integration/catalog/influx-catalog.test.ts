/** The catalog suite (catalog/catalog-suite.ts) on InfluxDB 1.x: a real influxd on loopback. */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { requireProgram, startInfluxd, type InfluxdNode } from '@vitalgate/test-support';
import { CatalogCollisionError, InfluxCatalog } from '../../../src/index.js';
import { T0, anchorN, batch, catalogSuite, idWith, newPatient, refOf, sha } from '../../catalog/catalog-suite.js';

{
  let dir: string;
  let node: InfluxdNode | undefined;
  let cat: InfluxCatalog | undefined;
  /** After a restart, until InfluxDB answers (ingest would answer 503 meanwhile, and gateways retry). */
  const answering = async (): Promise<void> => {
    for (const deadline = Date.now() + 20_000; ;) {
      try {
        await cat!.batches({ patientId: 'probe', from: 0, to: 1, limit: 1 });
        return;
      } catch (e) {
        if (Date.now() > deadline) throw e;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  };
  catalogSuite('InfluxDB 1.x', {
    async setUp(ctx) {
      requireProgram(ctx, 'influxd', 'influxdb');
      dir = await mkdtemp(join(tmpdir(), 'vg-influx-'));
      node = await startInfluxd(dir);
      cat = await InfluxCatalog.connect({ url: `${node.url}/vg_catalog_test` });
    },
    catalog: () => cat!,
    async reopen() {
      await node!.restart();
      await answering();
    },
    async tearDown() {
      await cat?.close();
      await node?.stop();
      if (dir) await rm(dir, { recursive: true, force: true });
    },
  }, () => {
    it('refuses a second batch that would land on an existing point (same series, millisecond and id prefix)', async () => {
      const p = newPatient();
      const a = batch(p, { id: idWith('12345678', 'collide-a'), firstTs: T0 });
      const b = batch(p, { id: idWith('12345678', 'collide-b'), firstTs: T0 });
      await cat!.addBatch(a);
      await assert.rejects(cat!.addBatch(b), (e: Error) => e instanceof CatalogCollisionError && e.message.includes(a.id) && e.message.includes(b.id));
      // The refused batch's anchor lands on the same point, and still does not show on the other batch.
      await cat!.addAnchor(anchorN(5), [refOf(b)]);
      assert.deepEqual((await cat!.batches({ patientId: p, from: T0, to: T0 + 1, limit: 10 })).entries, [a]);
      // A different stream at the very same time is a different series: no collision.
      await cat!.addBatch({ ...b, stream: 'spo2' });
    });

    it('while influxd is down: errors name the host and not the password; the same catalog works once it is back', async () => {
      const withPassword = await InfluxCatalog.connect({ url: node!.url.replace('//', '//vg:hunter2@') + '/vg_catalog_test' });
      assert.doesNotMatch(withPassword.describe(), /hunter2/);
      const p = newPatient();
      const b = batch(p, { id: sha('down'), firstTs: T0 });
      await node!.stop();
      for (const c of [cat!, withPassword]) {
        for (const call of [() => c.addBatch(b), () => c.batches({ patientId: p, from: 0, to: T0 + 1, limit: 1 }), () => c.hourlyCounts({ patientId: p, from: 0, to: T0 + 1 })]) {
          await assert.rejects(call(), (e: Error) => {
            assert.match(e.message, new RegExp(`InfluxDB at http://127\\.0\\.0\\.1:${node!.port} database vg_catalog_test is unreachable`));
            assert.doesNotMatch(e.message + String(e.stack), /hunter2/);
            return true;
          });
        }
      }
      await node!.restart();
      await answering();
      await cat!.addBatch(b);
      assert.deepEqual((await withPassword.batches({ patientId: p, from: 0, to: T0 + 1, limit: 1 })).entries, [b]);
    });
  });
}
