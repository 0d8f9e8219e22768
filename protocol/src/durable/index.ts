/**
 * Node-only durable file primitives, the one copy every store in every package uses: atomic file
 * writes and directory fsync. A subpath of its own (`@vitalgate/protocol/durable`) so the browser
 * bundle, which imports the main entry, never pulls in node:fs.
 */
export { fsyncDir } from './fsync-dir.js';
export { writeFileAtomic, ensureDir, type WriteFileAtomicOptions } from './write-file-atomic.js';
