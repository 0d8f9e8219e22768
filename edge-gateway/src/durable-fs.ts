/**
 * The durable file primitives live in @vitalgate/protocol/durable (one copy for every package);
 * this module re-exports them for the gateway's own stores.
 */
export { ensureDir, fsyncDir, writeFileAtomic } from '@vitalgate/protocol/durable';
