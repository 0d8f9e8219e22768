/**
 * `vitalgate clinicians` and `care-teams` beyond what clinicians.test.ts covers: an example in every
 * subcommand's help, and break-glass over --chain-url, where nobody funds the clinician, so a failure
 * must name the account that needs gas, and the contract's bounds come back as its reasons.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseEther, Wallet } from 'ethers';
import { connectContracts, createProvider } from '@vitalgate/contracts';
import { Keystore } from '@vitalgate/edge-gateway';
import { chainDir, startEmbeddedChain } from '../../src/chain/embedded.js';
import { readClinicianKeyFile } from '../../src/clinician-key-file.js';
import { vitalgate } from '../cli.js';

const PASSPHRASE = 'clinicians-cli test passphrase, not the demo one';

describe('vitalgate clinicians and care-teams: help examples, break-glass over --chain-url', function () {
  this.timeout(180_000);
  let dir: string;
  let data: string;
  const run = (args: string[]) => vitalgate([...args, '--data-dir', data], { VITALGATE_PASSPHRASE_FILE: join(dir, 'pass') });

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'vg-clinicians-cli-'));
    data = join(dir, 'data');
    await writeFile(join(dir, 'pass'), PASSPHRASE + '\n', { mode: 0o600 });
    await Keystore.open(join(data, 'keys'), PASSPHRASE, { N: 2 ** 14, r: 8, p: 1 });
  });
  after(async () => rm(dir, { recursive: true, force: true }));

  it('gives an example in the help of every subcommand, and break-glass lists the reason codes', async () => {
    for (const args of [
      ['clinicians', 'add'], ['clinicians', 'list'], ['clinicians', 'break-glass'],
      ['care-teams', 'create'], ['care-teams', 'add'], ['care-teams', 'remove'], ['care-teams', 'list'],
    ]) {
      const r = await vitalgate([...args, '--help']);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, new RegExp(`Examples?:\\n  vitalgate ${args.join(' ')} `), `${args.join(' ')} --help has no example`);
    }
    const glass = await vitalgate(['clinicians', 'break-glass', '--help']);
    assert.match(glass.stdout.replace(/\s+/g, ' '), /0 unconscious or unresponsive, 1 life-threatening emergency, 2 patient cannot consent, 3 legal or public-health duty/);
  });

  it('break-glass with --chain-url: an unfunded clinician is told its account needs gas; funded, it works; bounds are the contract\'s', async () => {
    const file = join(dir, 'dr-b.key');
    const added = await run(['clinicians', 'add', '--generate', file]);
    assert.equal(added.code, 0, added.stderr);
    const doc = readClinicianKeyFile(file).address;
    // consent grant registers the patient with the dev admin key on the embedded chain.
    const g = await run(['consent', 'grant', '--patient', 'patient-0002', '--to', doc, '--streams', 'hr', '--purpose', 'treatment', '--json']);
    assert.equal(g.code, 0, g.stderr);
    const patient = (JSON.parse(g.stdout) as { patientAddress: string }).patientAddress;

    // The chain runs on its own, as under `vitalgate start`; the commands reach it by URL.
    const chain = await startEmbeddedChain(chainDir(data));
    const provider = createProvider(chain.url, chain.deployment.chainId);
    try {
      const glass = (extra: string[]) => run(['clinicians', 'break-glass', '--chain-url', chain.url, '--key', file, '--patient-address', patient, '--reason', 'arrest on the ward', ...extra]);
      const broke = await glass(['--reason-code', '0']);
      assert.notEqual(broke.code, 0);
      assert.match(broke.stderr, new RegExp(`the clinician's account ${doc} has no ETH to pay for the gas: with --chain-url it pays its own`));

      const admin = new Wallet(chain.adminKey, provider);
      await (await admin.sendTransaction({ to: doc, value: parseEther('0.05') })).wait();
      const max = Number(await connectContracts(chain.deployment, provider).consent.breakGlassDuration());

      const refusals: Array<[string[], RegExp]> = [
        [['--reason-code', '4'], /reason code 4 is not one the contract knows: 0 unconscious or unresponsive, .*3 legal or public-health duty/],
        [['--reason-code', '0', '--duration', String(max + 1)], new RegExp(`--duration ${max + 1}s: at most ${max} s`)],
        [['--reason-code', '0', '--duration', '9999999999999'], /far beyond any break-glass bound/],
        [['--reason-code', 'one'], /--reason-code <n> is required: a number/],
      ];
      for (const [extra, why] of refusals) {
        const r = await glass(extra);
        assert.notEqual(r.code, 0, extra.join(' '));
        assert.match(r.stderr, why, extra.join(' '));
      }

      const ok = await glass(['--reason-code', '0', '--duration', '15m', '--json']);
      assert.equal(ok.code, 0, ok.stderr);
      const out = JSON.parse(ok.stdout) as { clinician: string; patient: string; until: number };
      assert.deepEqual([out.clinician, out.patient], [doc, patient]);
      assert.equal(BigInt(out.until), await connectContracts(chain.deployment, provider).consent.breakGlassUntil(patient, doc));
      assert.ok((await provider.getBalance(doc)) < parseEther('0.05'), 'the clinician paid its own gas');
    } finally {
      provider.destroy();
      await chain.stop();
    }

    const list = await run(['consent', 'list', '--patient', 'patient-0002', '--json']);
    assert.equal(list.code, 0, list.stderr);
    const items = JSON.parse(list.stdout) as { type: string; clinician?: string; reasonCode?: number; reason?: string; status: string }[];
    assert.ok(items.some((i) => i.type === 'break-glass' && i.clinician === doc && i.reasonCode === 0 && i.reason === 'arrest on the ward' && i.status === 'active'), list.stdout);
  });
});
