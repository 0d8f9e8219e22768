import assert from 'node:assert/strict';
import { vitalgate } from '../cli.js';

describe('vitalgate --help', () => {
  it('lists every subcommand', async () => {
    const r = await vitalgate(['--help']);
    assert.equal(r.code, 0);
    for (const c of ['start', 'run', 'open', 'sim', 'broker', 'gateway', 'epoch', 'devices', 'gateways', 'ecg', 'keys', 'wfdb', 'decode', 'chain', 'consent', 'verify']) assert.match(r.stdout, new RegExp(`\\n  ${c}\\b`));
  });

  for (const [cmd, mustMention] of [
    [['start'], ['--devices', '--duration', '--data-dir', 'Ctrl-C']],
    [['run'], ['--devices', '--duration', '--data-dir', '--sent-log', 'Example']],
    [['open'], ['--data-dir', '--json', 'exits 1', '--allow-demo-passphrase']],
    [['sim'], ['--broker', '--profile', 'chest-strap', 'pulse-ox']],
    [['broker'], ['--port', '--host', 'loopback', '--config', '--tls-port', '--ws-port', '--metrics-port', '--client-certs']],
    [['ecg', 'rpeaks'], ['--signal', '--json']],
    [['ecg', 'score'], ['--signal', '--annotations', '--window-ms']],
    [['keys', 'evaluate'], ['--window-seconds', '--json']],
    [['keys', 'backup'], ['--patient', '--from', '--data-dir', '--window-seconds', 'no key']],
    [['keys', 'recover'], ['--vault', '--from', '--data-dir', '--max-windows', '--allow-demo-passphrase']],
    [['keys', 'rekey'], ['--data-dir', '--new-passphrase-file', '--passphrase-file', 'crash']],
    [['gateway'], ['--allow-demo-passphrase', '--broker', '--batch-window-ms', '--epoch-minutes', 'SIGUSR2', '--mqtt-ca', '--mqtt-cert']],
    [['epoch', 'rotate'], ['--data-dir']],
  ] as const) {
    it(`explains ${cmd.join(' ')}`, async () => {
      const r = await vitalgate([...cmd, '--help']);
      assert.equal(r.code, 0);
      for (const m of mustMention) assert.ok(r.stdout.includes(m), `${cmd.join(' ')} --help does not mention ${m}`);
    });
  }

  it('rejects a bad option value with a clear message and a non-zero exit', async () => {
    const r = await vitalgate(['run', '--devices', 'many']);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /--devices must be a positive integer/);
  });
});
