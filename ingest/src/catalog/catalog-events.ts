/**
 * Which patients' catalogs just grew, told to listeners in this process: a clinician's live feed
 * answers when a batch lands instead of at its next poll. The feed still polls, because behind a
 * load balancer another instance may have taken the batch; this only saves the wait when this one did.
 */
import { EventEmitter } from 'node:events';
import type { Catalog, CatalogBatch } from './catalog.js';

export class CatalogEvents extends EventEmitter<{ added: [patientId: string] }> {
  constructor() {
    super();
    // One listener per open live feed: many viewers are normal, not a leak.
    this.setMaxListeners(0);
  }
}

/** The same catalog, telling `events` about every batch it has durably added. */
export function announcing(catalog: Catalog, events: CatalogEvents): Catalog {
  const tell = (bs: readonly CatalogBatch[]) => {
    for (const p of new Set(bs.map((b) => b.patientId))) events.emit('added', p);
  };
  return {
    addBatch: async (b) => { await catalog.addBatch(b); tell([b]); },
    addBatches: async (bs) => { await catalog.addBatches(bs); tell(bs); },
    addAnchor: (a, refs) => catalog.addAnchor(a, refs),
    batches: (q) => catalog.batches(q),
    newestBatches: (q) => catalog.newestBatches(q),
    hourlyCounts: (q) => catalog.hourlyCounts(q),
    describe: () => catalog.describe(),
    close: () => catalog.close(),
  };
}
