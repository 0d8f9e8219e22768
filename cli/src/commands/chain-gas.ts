/**
 * `vitalgate chain gas`: the gas each state-changing contract function uses, measured on a fresh anvil,
 * and what anchoring costs per reading next to the per-batch and per-reading (per-record) designs.
 */
import type { Command } from 'commander';
import { measureGas, type GasReport } from '@vitalgate/contracts';

/** Registers `gas` under the existing `chain` command. */
export function registerChainGas(chain: Command): void {
  chain
    .command('gas')
    .description('measure, on a fresh throw-away anvil, the gas of every state-changing contract function and the gas per anchored reading')
    .option('--json', 'print one JSON object: every function\'s gas ("functions"), deployments, anchor gas by batch count, the anchoring comparison, and the top-level gasPerReadingAnchored, gasPerReadingOneTxPerBatch and gasPerReadingOneTxPerReading')
    .addHelpText('after', [
      '',
      'Each function is measured on its first call (cold storage): register (gateway, patient, clinician),',
      'grant, grant by signature (EIP-712, relayed), revoke, revoke by signature, break-glass, care teams,',
      'denials and bans, anchor (a real 75,000-batch root) and audit anchor (anchorAccessLog).',
      '',
      'Per reading, for the default mixed profile at 1000 devices (14.1 readings/s/device, 5 streams,',
      '30 s anchor period, 2 s batches):',
      '  gasPerReadingAnchored         one anchor per gateway per period / readings per period',
      '  gasPerReadingOneTxPerBatch    one anchor-like transaction per batch',
      '  gasPerReadingOneTxPerReading  one transaction per reading (the per-record designs)',
      '',
      'Takes a few seconds; uses no data directory and leaves nothing behind.',
    ].join('\n'))
    .action(async (o: { json?: boolean }) => {
      if (!o.json) process.stderr.write('measuring gas on a fresh anvil…\n');
      const report = await measureGas();
      process.stdout.write(o.json ? JSON.stringify(gasJson(report)) + '\n' : formatGas(report));
    });
}

export interface GasJson extends GasReport {
  gasPerReadingOneTxPerBatch: number;
  gasPerReadingOneTxPerReading: number;
}

/** The report with the three per-reading figures side by side at the top level. */
export function gasJson(r: GasReport): GasJson {
  return {
    ...r,
    gasPerReadingAnchored: r.anchoring.gasPerReadingAnchored,
    gasPerReadingOneTxPerBatch: r.anchoring.oneTxPerBatch.gasPerReading,
    gasPerReadingOneTxPerReading: r.anchoring.oneTxPerReading.gasPerReading,
  };
}

const int = (n: number): string => Math.round(n).toLocaleString('en-US');
const perReading = (n: number): string =>
  n >= 100 ? int(n) : n.toLocaleString('en-US', { maximumFractionDigits: 3, minimumFractionDigits: 3 });

function table(rows: string[][], rightAligned: readonly number[]): string {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => (r[c] ?? '').length)));
  return rows
    .map((r) => r.map((cell, c) => (rightAligned.includes(c) ? cell.padStart(widths[c]!) : cell.padEnd(widths[c]!))).join('   ').trimEnd())
    .join('\n') + '\n';
}

export function formatGas(r: GasReport): string {
  const a = r.anchoring;
  const p = a.profile;
  let out = `gas on a fresh anvil (chain ${r.chainId}), solc ${r.solc}, each function on its first call\n\n`;
  out += table([['function', 'gas'], ...Object.entries(r.functions).map(([f, g]) => [f, int(g)])], [1]);
  out += '\n' + table([['deployment', 'gas'], ...Object.entries(r.deployment).map(([c, g]) => [c, int(g)])], [1]);
  out += '\n' + table([['anchor covering', 'gas'], ...r.anchorByCount.map((x) => [`${int(x.count)} batch${x.count === 1 ? '' : 'es'}`, int(x.gasUsed)])], [1]);
  out += `(anchor uri ${JSON.stringify(r.uri)}, ${Buffer.byteLength(r.uri)} bytes)\n`;
  out += `\nper reading: ${p.name} profile at ${int(p.devices)} devices, ${p.messagesPerSecondPerDevice} readings/s/device, `
    + `${p.anchorPeriodSeconds} s anchor period, ${p.batchWindowSeconds} s batches\n`
    + `= ${int(a.readingsPerPeriod)} readings and ${int(a.batchesPerPeriod)} batches per period\n\n`;
  out += table([
    ['design', 'gas per period', 'gas per reading'],
    ['one anchor per gateway per period (Vitalgate)', int(a.anchorGas), perReading(a.gasPerReadingAnchored)],
    ['one transaction per batch', int(a.oneTxPerBatch.gasPerPeriod), perReading(a.oneTxPerBatch.gasPerReading)],
    ['one transaction per reading (per-record designs)', int(a.oneTxPerReading.gasPerPeriod), perReading(a.oneTxPerReading.gasPerReading)],
  ], [1, 2]);
  return out;
}
