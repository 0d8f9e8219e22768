/** The object store contract (object-store-contract.ts) on the local filesystem, in a temporary directory. */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LocalObjectStore } from '../../src/index.js';
import { objectStoreContract } from './object-store-contract.js';

// ---- the local filesystem ----

let localDir: string;
let local: LocalObjectStore;
objectStoreContract('local filesystem', {
  async setUp() {
    localDir = await mkdtemp(join(tmpdir(), 'vg-objects-'));
    local = new LocalObjectStore(localDir);
  },
  store: () => local,
  tearDown: () => rm(localDir, { recursive: true, force: true }),
});
