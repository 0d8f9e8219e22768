import type { Command } from 'commander';
import { decodeGattWithUnits, GATT_CHARACTERISTICS } from '@vitalgate/firmware-bridge';
import { decodeFrame, decodeFrameRaw } from '@vitalgate/protocol';

/** Input errors exit 2 with one clear line on stderr, so scripts can tell them from crashes. */
function invalid(msg: string): never {
  process.stderr.write(`vitalgate decode: ${msg}\n`);
  process.exit(2);
}

function hexArg(hex: string): Uint8Array {
  const h = hex.replace(/^0x/i, '').replace(/[\s:]/g, '').toLowerCase();
  if (h.length % 2 !== 0 || !/^[0-9a-f]*$/.test(h)) invalid(`"${hex.slice(0, 40)}" is not hex (pairs of 0-9a-f)`);
  return Uint8Array.from(h.match(/../g) ?? [], (b) => parseInt(b, 16));
}

export function registerDecode(program: Command): void {
  const decode = program.command('decode').description('decode device wire formats and print JSON (invalid input: exit 2)');
  decode
    .command('gatt <uuid> <hex>')
    .description('decode a BLE GATT health characteristic value, e.g. `vitalgate decode gatt 2a37 1e5532002100`')
    .addHelpText('after', [
      '',
      'Every number is printed with its UCUM unit: {"value": 85, "unit": "/min"} (an IEEE 11073 special',
      'as {"absent": "nan", "unit": …}, a list as {"values": […], "unit": …}; codes and bit fields carry',
      '{flags}, {code}, {id}). Heart-rate RR intervals appear as sent (rrIntervals1024, unit s/1024) and',
      'in seconds (rrIntervalsS) and milliseconds (rrIntervalsMs).',
      '',
      'Characteristics:',
      ...Object.entries(GATT_CHARACTERISTICS).map(([u, n]) => `  ${u}  ${n}`),
    ].join('\n'))
    .action((uuid: string, hex: string) => {
      const r = decodeGattWithUnits(uuid, hexArg(hex));
      if (!r.ok) invalid(r.reason);
      process.stdout.write(JSON.stringify(r.value, null, 2) + '\n');
    });
  decode
    .command('frame <hex>')
    .description('decode a UART firmware frame: the COBS bytes from the wire (trailing 00 optional), or --raw for the frame before COBS')
    .option('--raw', 'the hex is the un-COBSed frame (CRC included)')
    .action((hex: string, o: { raw?: boolean }) => {
      const bytes = hexArg(hex);
      const r = o.raw ? decodeFrameRaw(bytes) : decodeFrame(bytes);
      if (!r.ok) invalid(r.reason);
      process.stdout.write(JSON.stringify(r.value, null, 2) + '\n');
    });
}
