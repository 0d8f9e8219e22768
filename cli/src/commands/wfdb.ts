import type { Command } from 'commander';
import { readWfdbRecord, wfdbRecordInfo } from '@vitalgate/biosignal';

export function registerWfdb(program: Command): void {
  const wfdb = program.command('wfdb').description('PhysioNet WFDB records');
  wfdb
    .command('info <record.hea>')
    .description('read a WFDB record and check every signal against its header checksum')
    .option('--json', 'print {record, fs, samples, signals: [{description, format, samplesPerFrame, gain, baseline, units, initialValue, checksum, computedChecksum, first}]}')
    .addHelpText('after', '\nExits 1 when a computed checksum differs from the header.\nExample: vitalgate wfdb info ../shared/data/physionet/100.hea --json')
    .action(async (hea: string, o: { json?: boolean }) => {
      const info = wfdbRecordInfo(await readWfdbRecord(hea));
      const mismatched = info.signals.filter((s) => s.checksum !== null && ((s.checksum - s.computedChecksum) & 0xffff) !== 0);
      if (o.json) {
        process.stdout.write(JSON.stringify(info) + '\n');
      } else {
        process.stdout.write(`${info.record}: ${info.signals.length} signals, ${info.samples} samples at ${info.fs} Hz (${(info.samples / info.fs).toFixed(1)} s)\n`);
        for (const s of info.signals) {
          const ok = s.checksum === null ? 'no checksum in header' : s.checksum === s.computedChecksum ? 'checksum ok' : `CHECKSUM MISMATCH (header ${s.checksum})`;
          process.stdout.write(`  ${s.description.padEnd(12)} format ${s.format}  ${s.samplesPerFrame}×  gain ${s.gain}/${s.units}  baseline ${s.baseline}  first [${s.first.join(', ')}]  ${ok}\n`);
        }
      }
      if (mismatched.length) process.exitCode = 1;
    });
}
