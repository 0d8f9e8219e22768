/** The catalog suite (catalog-suite.ts) on the embedded catalog: LevelDB in a temporary directory. */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EmbeddedCatalog } from '../../src/index.js';
import { catalogSuite } from './catalog-suite.js';

{
  let dir: string;
  let cat: EmbeddedCatalog | undefined;
  catalogSuite('embedded (LevelDB)', {
    async setUp() {
      dir = await mkdtemp(join(tmpdir(), 'vg-catalog-'));
      cat = await EmbeddedCatalog.open(join(dir, 'catalog'));
    },
    catalog: () => cat!,
    async reopen() {
      await cat!.close();
      cat = await EmbeddedCatalog.open(join(dir, 'catalog'));
    },
    async tearDown() {
      await cat?.close();
      if (dir) await rm(dir, { recursive: true, force: true });
    },
  }, () => {
    it('refuses a second open of the same directory, saying why', async () => {
      await assert.rejects(EmbeddedCatalog.open(join(dir, 'catalog')), /in use by another process/);
    });
  });
}
