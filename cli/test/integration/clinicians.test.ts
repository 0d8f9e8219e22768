/**
 * `vitalgate clinicians` and `vitalgate care-teams` on a real anvil: the embedded chain of a
 * temporary data directory, started by each command, read back directly after each.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hexlify } from 'ethers';
import { connectContracts, createProvider } from '@vitalgate/contracts';
import { Keystore } from '@vitalgate/edge-gateway';
import { envelopePublicKey, randomEnvelopeSecretKey } from '@vitalgate/protocol';
import { chainDir, startEmbeddedChain } from '../../src/chain/embedded.js';
import { readClinicianKeyFile } from '../../src/clinician-key-file.js';
import { vitalgate } from '../cli.js';

const PASSPHRASE = 'clinicians test passphrase, not the demo one';

describe('vitalgate clinicians and care-teams', function () {
  this.timeout(180_000);
  let dir: string;
  let data: string;
  const run = (args: string[]) => vitalgate([...args, '--data-dir', data], { VITALGATE_PASSPHRASE_FILE: join(dir, 'pass') });
  /** Reads the embedded chain once the command that used it has stopped. */
  async function onChain<T>(f: (c: ReturnType<typeof connectContracts>) => Promise<T>): Promise<T> {
    const chain = await startEmbeddedChain(chainDir(data));
    const provider = createProvider(chain.url, chain.deployment.chainId);
    try {
      return await f(connectContracts(chain.deployment, provider));
    } finally {
      provider.destroy();
      await chain.stop();
    }
  }

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'vg-clinicians-'));
    data = join(dir, 'data');
    await writeFile(join(dir, 'pass'), PASSPHRASE + '\n', { mode: 0o600 });
    await Keystore.open(join(data, 'keys'), PASSPHRASE, { N: 2 ** 14, r: 8, p: 1 });
  });
  after(async () => rm(dir, { recursive: true, force: true }));

  it('explains every subcommand in --help', async () => {
    for (const [args, mustMention] of [
      [['clinicians', 'add'], ['--generate', '--encryption-key', '--admin-key-file', '--chain-url', '--json', 'Example']],
      [['clinicians', 'list'], ['--json', '--chain-url']],
      [['clinicians', 'break-glass'], ['--key', '--patient-address', '--reason-code', '--reason', '--duration', 'end-break-glass']],
      [['care-teams', 'create'], ['<name>', '--admin-key-file', '--json']],
      [['care-teams', 'add'], ['<team>', '<clinician>']],
      [['care-teams', 'remove'], ['<team>', '<clinician>']],
      [['care-teams', 'list'], ['--json']],
      [['fetch'], ['--ingest', '--key', '--patient', '--stream', '--from', '--to', '--json', 'ban']],
      [['audit'], ['--patient', '--ingest', '--chain-url', 'proven', 'not-anchored', 'failed']],
    ] as const) {
      const r = await vitalgate([...args, '--help']);
      assert.equal(r.code, 0);
      for (const m of mustMention) assert.ok(r.stdout.includes(m), `${args.join(' ')} --help does not mention ${m}`);
    }
  });

  it('clinicians add --generate: a 0600 key file whose account and encryption key are registered', async () => {
    const file = join(dir, 'dr-a.key');
    const r = await run(['clinicians', 'add', '--generate', file, '--json']);
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout) as { address: string; encryptionPublicKey: string; keyFile: string };
    assert.equal((await stat(file)).mode & 0o777, 0o600);
    const keys = readClinicianKeyFile(file);
    assert.equal(keys.address, out.address);
    assert.ok(!r.stdout.includes(keys.accountKey.slice(2)) && !r.stderr.includes(keys.accountKey.slice(2)), 'no secret printed');
    await onChain(async (c) => {
      assert.equal(await c.registry.isClinician(keys.address), true);
      assert.equal(await c.registry.encryptionKeyOf(keys.address), hexlify(keys.encryptionPublicKey));
    });
    const listed = await run(['clinicians', 'list', '--json']);
    assert.equal(listed.code, 0, listed.stderr);
    const rows = JSON.parse(listed.stdout) as { address: string; envelopes: boolean; banned: boolean }[];
    assert.deepEqual(rows.find((x) => x.address === keys.address), { address: keys.address, encryptionKey: hexlify(keys.encryptionPublicKey), envelopes: true, banned: false, denied: 0, careTeams: [] });
  });

  it('clinicians add refuses, each with its reason: an existing file, a key that cannot receive envelopes, a bad address, a second registration, a loose key file', async () => {
    const existing = join(dir, 'dr-a.key');
    const pub = hexlify(envelopePublicKey(randomEnvelopeSecretKey()));
    const cases: Array<[string[], RegExp]> = [
      [['clinicians', 'add', '--generate', existing], /exists: --generate never overwrites/],
      [['clinicians', 'add', '0x9965507D1a55bcC2695C58ba16FB37d819B0A4dc', '--encryption-key', `0x${'11'.repeat(32)}`], /32-byte \(X25519\) encryption key cannot receive a v1 envelope/],
      [['clinicians', 'add', '0x9965507D1a55bcC2695C58ba16FB37d819B0A4dc', '--encryption-key', `0x02${'ff'.repeat(32)}`], /not a point on secp256k1/],
      [['clinicians', 'add', '0x1234', '--encryption-key', pub], /not a 0x address/],
      [['clinicians', 'add', readClinicianKeyFile(existing).address, '--encryption-key', pub], /already registered/],
      [['clinicians', 'add', '--generate', join(dir, 'never.key'), '--chain-url', 'http://127.0.0.1:1', '--deployment', join(dir, 'none.json')], /--admin-key-file <file> is required with --chain-url/],
    ];
    for (const [args, why] of cases) {
      const r = await run(args);
      assert.notEqual(r.code, 0, args.join(' '));
      assert.match(r.stderr, why, args.join(' '));
    }
    await assert.rejects(stat(join(dir, 'never.key')), /ENOENT/, 'a usage error writes no key file');
    await writeFile(join(dir, 'loose.key'), '{}', { mode: 0o644 });
    const loose = await run(['clinicians', 'break-glass', '--key', join(dir, 'loose.key'), '--patient-address', '0x9965507D1a55bcC2695C58ba16FB37d819B0A4dc', '--reason-code', '1', '--reason', 'x']);
    assert.match(loose.stderr, /readable by others/);
  });

  it('care-teams create, add, list and remove, checked on chain; removing a non-member is refused', async () => {
    const doc = readClinicianKeyFile(join(dir, 'dr-a.key')).address;
    const created = await run(['care-teams', 'create', 'cardiology, ward 3', '--json']);
    assert.equal(created.code, 0, created.stderr);
    const { team } = JSON.parse(created.stdout) as { team: string };
    assert.equal((await run(['care-teams', 'add', team, doc])).code, 0);
    await onChain(async (c) => assert.equal(await c.registry.isCareTeamMember(team, doc), true));
    const list = JSON.parse((await run(['care-teams', 'list', '--json'])).stdout) as { team: string; name: string; members: string[] }[];
    assert.deepEqual(list, [{ team, name: 'cardiology, ward 3', members: [doc] }]);
    const again = await run(['care-teams', 'add', team, doc]);
    assert.match(again.stderr, /already a member/);
    assert.equal((await run(['care-teams', 'remove', team, doc])).code, 0);
    await onChain(async (c) => assert.equal(await c.registry.isCareTeamMember(team, doc), false));
    const gone = await run(['care-teams', 'remove', team, doc]);
    assert.notEqual(gone.code, 0);
    assert.match(gone.stderr, /is not a member of/);
    const unknown = await run(['care-teams', 'add', doc, doc]);
    assert.match(unknown.stderr, /is not a care team/);
  });

  it('clinicians break-glass: the clinician opens a registered patient\'s record on chain, and consent list shows it; a bad reason code is refused', async () => {
    // consent grant registers the patient on the embedded chain on first use.
    const file = join(dir, 'dr-a.key');
    const doc = readClinicianKeyFile(file).address;
    const g = await run(['consent', 'grant', '--patient', 'patient-0001', '--to', doc, '--streams', 'hr', '--purpose', 'treatment', '--json']);
    assert.equal(g.code, 0, g.stderr);
    const patientAddress = (JSON.parse(g.stdout) as { patientAddress: string }).patientAddress;
    const bad = await run(['clinicians', 'break-glass', '--key', file, '--patient-address', patientAddress, '--reason-code', '250', '--reason', 'test']);
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /reason code 250/);
    const ok = await run(['clinicians', 'break-glass', '--key', file, '--patient-address', patientAddress, '--reason-code', '1', '--reason', 'collapsed in the corridor', '--duration', '30m', '--json']);
    assert.equal(ok.code, 0, ok.stderr);
    const out = JSON.parse(ok.stdout) as { clinician: string; until: number };
    assert.equal(out.clinician, doc);
    assert.ok(out.until * 1000 > Date.now() + 25 * 60_000 && out.until * 1000 < Date.now() + 35 * 60_000);
    const list = await run(['consent', 'list', '--patient', 'patient-0001', '--json']);
    const items = JSON.parse(list.stdout) as { type: string; clinician?: string; status: string; reason?: string }[];
    assert.ok(items.some((i) => i.type === 'break-glass' && i.clinician === doc && i.status === 'active'), list.stdout);
  });
});
