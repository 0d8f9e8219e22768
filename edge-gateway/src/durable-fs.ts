/**
 * Kept only for `bsn/` (issue 14 moves it out into its own package): the durable file primitives
 * live in @vitalgate/protocol/durable. Remove once nothing here imports it.
 */
export { ensureDir, writeFileAtomic } from '@vitalgate/protocol/durable';
