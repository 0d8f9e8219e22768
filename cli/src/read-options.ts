/** The flags `open` and `verify` share: which batches to read, and the data directory check. */
import { Option, type Command } from 'commander';

const collect = (v: string, prev: string[] = []): string[] => [...prev, v];

export function addFilterOptions(cmd: Command): Command {
  return cmd
    .addOption(new Option('--patient <id>', 'only this patient (repeat, or comma-separate, for several)').argParser(collect))
    .addOption(new Option('--device <id>', 'only this device (repeat, or comma-separate)').argParser(collect))
    .addOption(new Option('--stream <name>', 'only this stream: ecg, ppg, hr, spo2, temp, bp, glucose, acc, resp (repeat, or comma-separate)').argParser(collect))
    .option('--from <time>', 'only readings at or after: ISO 8601 (2026-01-01T10:00:00Z), relative to now (-10m, -2h, -1d) or ms since the epoch')
    .option('--to <time>', 'only readings at or before (same forms as --from)');
}

export const FILTER_HELP = `
Filters (--patient, --device, --stream, --from, --to) are looked up in the batch index first: only
the batches that can match are read from their packs, each checked against its id.`;
