/**
 * `vitalgate consent grant|revoke|list` on a real anvil: the embedded chain of a temporary data
 * directory (started by each command), then the same chain kept running and reached with --chain-url.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Wallet, keccak256, toUtf8Bytes } from 'ethers';
import { ANVIL_DEV_ACCOUNTS, ANVIL_DEV_KEYS, MAX_DATA_TS, connectContracts, consentDomain, createProvider, signConsent } from '@vitalgate/contracts';
import { derivePatientRef } from '@vitalgate/protocol';
import { Keystore } from '@vitalgate/edge-gateway';
import { chainDir, startEmbeddedChain } from '../../src/chain/embedded.js';
import { vitalgate } from '../cli.js';

interface GrantOut { patientAddress: string; grantee: string; bySignature: boolean; paidBy: string; gasUsed: number; streams: string[]; expiry: number }
interface ListItem {
  type: 'grant' | 'break-glass'; grantee?: string; clinician?: string; status: string; streams?: string[]; purpose?: string;
  dataFrom?: number; dataUntil?: number; bySignature?: boolean; granteeKind?: string; reason?: string;
}

const PASSPHRASE = 'consent test passphrase, not the demo one';
const PATIENT = 'patient-0001';
/** A clinician whose key the test holds (anvil's dev account 1), so that it can break the glass. */
const CLINICIAN = ANVIL_DEV_ACCOUNTS[1]!.address;
const ADMIN = ANVIL_DEV_ACCOUNTS[0]!.address;

describe('vitalgate consent', function () {
  this.timeout(120_000);
  let dir: string;
  let data: string;
  let env: NodeJS.ProcessEnv;
  const consent = (args: string[]) => vitalgate(['consent', ...args, '--data-dir', data], env);
  const list = async (extra: string[] = []): Promise<ListItem[]> => {
    const r = await consent(['list', '--patient', PATIENT, '--json', ...extra]);
    assert.equal(r.code, 0, r.stderr);
    return JSON.parse(r.stdout) as ListItem[];
  };

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'vg-consent-'));
    data = join(dir, 'data');
    await writeFile(join(dir, 'pass'), PASSPHRASE + '\n', { mode: 0o600 });
    env = { VITALGATE_PASSPHRASE_FILE: join(dir, 'pass') };
    // The gateway's keystore, as the gateway would create it (cheaper scrypt so the commands open it quickly).
    await Keystore.open(join(data, 'keys'), PASSPHRASE, { N: 2 ** 14, r: 8, p: 1 });
  });
  after(async () => rm(dir, { recursive: true, force: true }));

  it('explains every option of grant, revoke and list in --help', async () => {
    for (const [sub, mustMention] of [
      ['grant', ['--patient', '--to', '--streams', '--from', '--until', '--expires', '--purpose', '--gasless', '--register-clinician', '--json', '--data-dir', '--chain-url', '--deployment', '--passphrase-file', '30d']],
      ['revoke', ['--patient', '--to', '--gasless', '--json', '--data-dir', '--chain-url', '--deployment', '--passphrase-file']],
      ['list', ['--patient', '--json', '--history', '--data-dir', '--chain-url', '--deployment', 'active', 'expired', 'revoked', 'break-glass']],
    ] as const) {
      const r = await vitalgate(['consent', sub, '--help']);
      assert.equal(r.code, 0);
      for (const m of mustMention) assert.ok(r.stdout.includes(m), `consent ${sub} --help does not mention ${m}`);
    }
    const top = await vitalgate(['--help']);
    assert.match(top.stdout, /\n  consent\b/);
  });

  it('refuses a grant without --purpose, clearly and with exit code 2', async () => {
    const r = await consent(['grant', '--patient', PATIENT, '--to', CLINICIAN]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /^vitalgate: --purpose <text> is required/m);
  });

  it('refuses bad values before touching the chain', async () => {
    for (const [args, message] of [
      [['--to', '0x1234'], /--to "0x1234" is not an Ethereum address/],
      [['--to', CLINICIAN, '--streams', 'ecg,pulse'], /unknown stream "pulse"/],
      [['--to', CLINICIAN, '--expires', 'soon'], /--expires must be a duration/],
      [['--to', CLINICIAN, '--from', '2026-02-01T00:00:00Z', '--until', '2026-01-01T00:00:00Z'], /the data window is empty/],
    ] as const) {
      const r = await consent(['grant', '--patient', PATIENT, '--purpose', 'treatment', ...args]);
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, message);
    }
  });

  it('refuses a grant to an address that is not a registered clinician or care team (the contract\'s InvalidGrantee)', async () => {
    const r = await consent(['grant', '--patient', PATIENT, '--to', CLINICIAN, '--purpose', 'treatment']);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, new RegExp(`^vitalgate: ${CLINICIAN} is not a registered clinician or care team`, 'm'));
    // The patient was registered on the embedded dev chain on the way.
    assert.match(r.stderr, /registered patient-0001 \(0x[0-9a-fA-F]{40}\) on the embedded dev chain/);
    assert.deepEqual(await list(), []);
  });

  it('grants (registering the clinician on the dev chain), and list shows the grant active', async () => {
    const r = await consent(['grant', '--patient', PATIENT, '--to', CLINICIAN, '--purpose', 'treatment', '--streams', 'ecg,hr',
      '--from', '2026-01-01T00:00:00Z', '--expires', '7d', '--register-clinician', '--json']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /registered 0x70997970C51812dc3A010C7d01b50e0d17dc79C8 as a clinician/);
    const g = JSON.parse(r.stdout) as GrantOut;
    assert.equal(g.grantee, CLINICIAN);
    assert.equal(g.bySignature, false);
    assert.equal(g.paidBy, g.patientAddress, 'a direct grant is paid by the patient');
    assert.deepEqual(g.streams, ['ecg', 'hr']);

    const items = await list();
    assert.equal(items.length, 1);
    const [item] = items;
    assert.equal(item!.type, 'grant');
    assert.equal(item!.grantee, CLINICIAN);
    assert.equal(item!.granteeKind, 'clinician');
    assert.equal(item!.status, 'active');
    assert.deepEqual(item!.streams, ['ecg', 'hr']);
    assert.equal(item!.dataFrom, Date.parse('2026-01-01T00:00:00Z'));
    assert.equal(item!.dataUntil, MAX_DATA_TS);
    assert.equal(item!.purpose, 'treatment');

    const human = await consent(['list', '--patient', PATIENT]);
    assert.equal(human.code, 0, human.stderr);
    assert.match(human.stdout, new RegExp(`${CLINICIAN} +clinician +active +ecg,hr +2026-01-01T00:00:00.000Z → … `));
  });

  it('revokes, and list shows the grant revoked; revoking again says there is no grant', async () => {
    const r = await consent(['revoke', '--patient', PATIENT, '--to', CLINICIAN]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /revoked patient-0001's grant to 0x70997970C51812dc3A010C7d01b50e0d17dc79C8/);
    const items = await list();
    assert.equal(items.length, 1);
    assert.equal(items[0]!.status, 'revoked');

    const again = await consent(['revoke', '--patient', PATIENT, '--to', CLINICIAN]);
    assert.equal(again.code, 2);
    assert.match(again.stderr, new RegExp(`^vitalgate: no grant from patient-0001 to ${CLINICIAN} to revoke`, 'm'));
  });

  it('grants gasless: the patient signs (EIP-712), the dev admin relays and pays', async () => {
    const r = await consent(['grant', '--patient', PATIENT, '--to', CLINICIAN, '--purpose', 'second opinion', '--expires', 'never', '--gasless', '--json']);
    assert.equal(r.code, 0, r.stderr);
    const g = JSON.parse(r.stdout) as GrantOut;
    assert.equal(g.bySignature, true);
    assert.equal(g.paidBy, ADMIN);
    assert.notEqual(g.paidBy, g.patientAddress);
    assert.deepEqual(g.streams, ['ecg', 'ppg', 'hr', 'spo2', 'temp', 'bp', 'glucose', 'acc', 'resp']);

    const current = await list();
    assert.equal(current.length, 1, 'the latest grant per grantee');
    assert.equal(current[0]!.status, 'active');
    assert.equal(current[0]!.bySignature, true);
    assert.equal(current[0]!.purpose, 'second opinion');
    const history = await list(['--history']);
    assert.deepEqual(history.map((i) => i.status), ['revoked', 'active']);
  });

  it('on a running chain through --chain-url: lists break-glass accesses, relays gasless revocations through the gateway\'s account, and needs registered patients', async () => {
    const chain = await startEmbeddedChain(chainDir(data));
    const provider = createProvider(chain.url);
    try {
      const at = ['--chain-url', chain.url, '--deployment', chain.deploymentFile];
      const revoked = await consent(['revoke', '--patient', PATIENT, '--to', CLINICIAN, '--gasless', '--json', ...at]);
      assert.equal(revoked.code, 0, revoked.stderr);
      const { patientAddress, paidBy, bySignature } = JSON.parse(revoked.stdout) as GrantOut;
      assert.equal(bySignature, true);
      assert.ok(paidBy !== ADMIN && paidBy !== patientAddress, 'without the admin key the gateway\'s own account relays');
      const clinician = new Wallet(ANVIL_DEV_KEYS[1]!, provider);
      await (await connectContracts(chain.deployment, clinician).consent.breakGlass(patientAddress, 0, 'unconscious on arrival', 3600)).wait();

      const items = await list(at);
      assert.deepEqual(items.map((i) => [i.type, i.status]), [['grant', 'revoked'], ['break-glass', 'active']]);
      assert.equal(items[1]!.clinician, CLINICIAN);
      assert.equal(items[1]!.reason, 'unconscious on arrival');
      const human = await consent(['list', '--patient', PATIENT, ...at]);
      assert.match(human.stdout, /break-glass accesses \(1\):\n {2}\S+ {2}0x70997970C51812dc3A010C7d01b50e0d17dc79C8 {2}until \S+ \(active\) {2}reason "unconscious on arrival"/);

      const stranger = await consent(['grant', '--patient', 'patient-0002', '--to', CLINICIAN, '--purpose', 'treatment', ...at]);
      assert.equal(stranger.code, 2);
      assert.match(stranger.stderr, /patient patient-0002 \(0x[0-9a-fA-F]{40}\) is not registered on chain; an admin must register it/);
      const noAdmin = await consent(['grant', '--patient', PATIENT, '--to', CLINICIAN, '--purpose', 'treatment', '--register-clinician', ...at]);
      assert.equal(noAdmin.code, 2);
      assert.match(noAdmin.stderr, /--register-clinician needs the embedded dev chain/);
    } finally {
      provider.destroy();
      await chain.stop();
    }
  });

  it('the chain holds a keyed patientRef; the patient ends a break-glass session and cancels an unrelayed signed consent', async () => {
    const chain = await startEmbeddedChain(chainDir(data));
    const provider = createProvider(chain.url);
    try {
      const at = ['--chain-url', chain.url, '--deployment', chain.deploymentFile];
      const { registry, consent: consentC } = connectContracts(chain.deployment, provider);
      const ks = await Keystore.open(join(data, 'keys'), PASSPHRASE, { N: 2 ** 14, r: 8, p: 1 });
      const patient = new Wallet(`0x${Buffer.from((await ks.getSecret(`eth-patient-${PATIENT}`))!).toString('hex')}`, provider);
      const ref = await registry.patientRefOf(patient.address);
      assert.equal(ref, derivePatientRef((await ks.get(PATIENT))!, PATIENT), 'the ref is keyed by the patient\'s master secret');
      assert.notEqual(ref, keccak256(toUtf8Bytes(PATIENT)), 'a guessable id does not find the patient');

      // A clinician breaks the glass; the patient ends it at once.
      const clinician = new Wallet(ANVIL_DEV_KEYS[1]!, provider);
      await (await connectContracts(chain.deployment, clinician).consent.breakGlass(patient.address, 1, 'collapsed in clinic', 3600)).wait();
      assert.equal(await consentC.canAccess(CLINICIAN, patient.address, 0, 0), true);
      const ended = await consent(['end-break-glass', '--patient', PATIENT, '--clinician', CLINICIAN, '--json', ...at]);
      assert.equal(ended.code, 0, ended.stderr);
      assert.equal(await consentC.canAccess(CLINICIAN, patient.address, 0, 0), false, 'no access once the patient ended it');
      const again = await consent(['end-break-glass', '--patient', PATIENT, '--clinician', CLINICIAN, ...at]);
      assert.notEqual(again.code, 0);
      assert.match(again.stderr, /has no break-glass session/);
      const items = await list(at);
      const glass = items.filter((i) => i.type === 'break-glass').at(-1)!;
      assert.equal(glass.status, 'ended');
      assert.equal((glass as unknown as { reasonClass: string }).reasonClass, 'life-threatening emergency');

      // The patient signs a consent for a relayer, then cancels it before it is relayed.
      const nonce = await consentC.nonces(patient.address);
      const block = await provider.getBlock('latest');
      const m = {
        patient: patient.address, grantee: CLINICIAN, streams: 1, dataFrom: 0, dataUntil: MAX_DATA_TS,
        expiry: Number(block!.timestamp) + 86_400, purpose: 'follow-up', nonce, deadline: Number(block!.timestamp) + 3600,
      };
      const sig = await signConsent(patient, consentDomain(chain.deployment.chainId, chain.deployment.contracts.Consent), m);
      const cancelled = await consent(['cancel-signatures', '--patient', PATIENT, '--json', ...at]);
      assert.equal(cancelled.code, 0, cancelled.stderr);
      assert.deepEqual((({ fromNonce, toNonce }) => ({ fromNonce, toNonce }))(JSON.parse(cancelled.stdout) as { fromNonce: number; toNonce: number }), { fromNonce: Number(nonce), toNonce: Number(nonce) });
      const relayer = connectContracts(chain.deployment, new Wallet(ANVIL_DEV_KEYS[2]!, provider)).consent;
      await assert.rejects(relayer.grantBySig(m.patient, m.grantee, m.streams, m.dataFrom, m.dataUntil, m.expiry, m.purpose, m.nonce, m.deadline, sig));
      assert.equal(await consentC.canAccess(CLINICIAN, patient.address, 0, 1), false, 'the cancelled consent grants nothing');
    } finally {
      provider.destroy();
      await chain.stop();
    }
  });
});
