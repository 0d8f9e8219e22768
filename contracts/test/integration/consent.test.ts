import assert from 'node:assert/strict';
import { TypedDataEncoder, keccak256, toUtf8Bytes, type Wallet } from 'ethers';
import {
  ALL_STREAMS,
  CONSENT_TYPES,
  MAX_DATA_TS,
  REVOKE_TYPES,
  consentDomain,
  patientRef,
  signConsent,
  signRevoke,
  streamMask,
  type Consent,
  type ConsentMessage,
} from '../../src/index.js';
import {
  expectRevert,
  latestTimestamp,
  mineAt,
  oneEvent,
  randomKey33,
  send,
  setNextTimestamp,
  setup,
  teardown,
  wallet,
  events,
  type Fixture,
} from './helpers.js';

const BREAK_GLASS_SECONDS = 600;
const FROM = 1_700_000_000_000; // ms
const UNTIL = 1_700_000_100_000; // ms
const ECG = 0;
const HR = 2;
const SPO2 = 3;

describe('contracts: Consent (on anvil)', function () {
  let f: Fixture;
  let gateway: Wallet, patient: Wallet, patient2: Wallet, clin: Wallet, clin2: Wallet, member: Wallet, relayer: Wallet, stranger: Wallet;
  let team: string;

  const consent = () => f.c.consent;
  const iface = () => f.c.consent.interface;
  const canAccess = (grantee: string, p: string, stream: number, t: number) => consent().canAccess(grantee, p, stream, t);

  before(async () => {
    f = await setup({ breakGlassSeconds: BREAK_GLASS_SECONDS, denyThreshold: 0 });
    [gateway, patient, patient2, clin, clin2, member, relayer, stranger] = [1, 2, 3, 4, 5, 6, 8, 9].map((i) => wallet(f, i)) as [
      Wallet, Wallet, Wallet, Wallet, Wallet, Wallet, Wallet, Wallet,
    ];
    const r = f.c.registry;
    await send(r.registerGateway(gateway.address));
    await send(r.registerPatient(patient.address, patientRef('patient-0001'), gateway.address));
    await send(r.registerPatient(patient2.address, patientRef('patient-0002'), gateway.address));
    for (const c of [clin, clin2, member]) await send(r.registerClinician(c.address, randomKey33()));
    await send(r.createCareTeam('icu'));
    team = await r.careTeamAddress(1);
    await send(r.addCareTeamMember(team, member.address));
  });
  after(async () => {
    await teardown(f);
  });

  async function expiryIn(seconds: number): Promise<number> {
    return (await latestTimestamp(f)) + seconds;
  }

  /** accessOf for `patients` against the one-question views it stands for (grantOf, careTeamsOf, breakGlassUntil, isBanned). */
  async function assertAccessOfMatches(patients: string[], clinician: string): Promise<{ teams: string[]; grantedStreams: bigint[] }> {
    const [isClinician, banned, teams, grants, glass] = await consent().accessOf(patients, clinician);
    assert.equal(isClinician, await f.c.registry.isClinician(clinician));
    assert.equal(banned, await f.c.registry.isBanned(clinician));
    assert.deepEqual([...teams], [...(await f.c.registry.careTeamsOf(clinician))]);
    const per = 1 + teams.length;
    const fields = (g: Awaited<ReturnType<Consent['grantOf']>>) => [g.streams, g.dataFrom, g.dataUntil, g.expiry, g.grantedAt, g.purposeHash];
    assert.equal(grants.length, patients.length * per);
    assert.equal(glass.length, patients.length);
    for (const [i, p] of patients.entries()) {
      assert.deepEqual(fields(grants[i * per]!), fields(await consent().grantOf(p, clinician)), `own grant of patient ${i}`);
      for (const [j, t] of teams.entries()) assert.deepEqual(fields(grants[i * per + 1 + j]!), fields(await consent().grantOf(p, t)), `team ${j}'s grant of patient ${i}`);
      assert.equal(glass[i], await consent().breakGlassUntil(p, clinician));
    }
    return { teams: [...teams], grantedStreams: grants.map((g) => g.streams) };
  }

  describe('grant and canAccess', () => {
    let expiry: number;
    const streams = streamMask([ECG, HR]);

    it('grant by the patient: event, stored grant, active', async () => {
      expiry = await expiryIn(3600);
      const receipt = await send(consent().connect(patient).grant(clin.address, streams, FROM, UNTIL, expiry, 'treatment'));
      assert.deepEqual(oneEvent(receipt, iface(), 'Granted'), [
        patient.address,
        clin.address,
        BigInt(streams),
        BigInt(FROM),
        BigInt(UNTIL),
        BigInt(expiry),
        'treatment',
        false,
      ]);
      const g = await consent().grantOf(patient.address, clin.address);
      assert.equal(g.streams, BigInt(streams));
      assert.equal(g.dataFrom, BigInt(FROM));
      assert.equal(g.dataUntil, BigInt(UNTIL));
      assert.equal(g.expiry, BigInt(expiry));
      assert.equal(g.purposeHash, keccak256(toUtf8Bytes('treatment')));
      assert.ok(g.grantedAt > 0n);
      assert.equal(await consent().isGrantActive(patient.address, clin.address), true);
    });

    it('canAccess at the edges of the data window (inclusive at both ends)', async () => {
      assert.equal(await canAccess(clin.address, patient.address, ECG, FROM - 1), false);
      assert.equal(await canAccess(clin.address, patient.address, ECG, FROM), true);
      assert.equal(await canAccess(clin.address, patient.address, ECG, (FROM + UNTIL) / 2), true);
      assert.equal(await canAccess(clin.address, patient.address, ECG, UNTIL), true);
      assert.equal(await canAccess(clin.address, patient.address, ECG, UNTIL + 1), false);
    });

    it('canAccess only for the granted streams, patient and grantee', async () => {
      assert.equal(await canAccess(clin.address, patient.address, HR, FROM), true);
      assert.equal(await canAccess(clin.address, patient.address, SPO2, FROM), false);
      assert.equal(await canAccess(clin.address, patient.address, 9, FROM), false);
      assert.equal(await canAccess(clin.address, patient.address, 255, FROM), false);
      assert.equal(await canAccess(clin.address, patient2.address, ECG, FROM), false);
      assert.equal(await canAccess(clin2.address, patient.address, ECG, FROM), false);
      assert.equal(await canAccess(stranger.address, patient.address, ECG, FROM), false);
    });

    it('canAccess at the edge of the expiry (active while block.timestamp < expiry)', async () => {
      await mineAt(f, expiry - 1);
      assert.equal(await canAccess(clin.address, patient.address, ECG, FROM), true);
      assert.equal(await consent().isGrantActive(patient.address, clin.address), true);
      await mineAt(f, expiry);
      assert.equal(await canAccess(clin.address, patient.address, ECG, FROM), false, 'expired grant');
      assert.equal(await consent().isGrantActive(patient.address, clin.address), false);
    });

    it('a new grant replaces the previous one; an open-ended window reaches MAX_DATA_TS', async () => {
      const e = await expiryIn(3600);
      await send(consent().connect(patient).grant(clin.address, ALL_STREAMS, 0, MAX_DATA_TS, e, 'follow-up'));
      assert.equal(await canAccess(clin.address, patient.address, 8, 0), true);
      assert.equal(await canAccess(clin.address, patient.address, SPO2, MAX_DATA_TS), true);
      assert.equal((await consent().grantOf(patient.address, clin.address)).purposeHash, keccak256(toUtf8Bytes('follow-up')));
    });

    it('revoke: event, access ends; revoked grant reverts a second revoke', async () => {
      const receipt = await send(consent().connect(patient).revoke(clin.address));
      assert.deepEqual(oneEvent(receipt, iface(), 'Revoked'), [patient.address, clin.address, false]);
      assert.equal(await canAccess(clin.address, patient.address, ECG, FROM), false, 'revoked grant');
      assert.equal(await consent().isGrantActive(patient.address, clin.address), false);
      await expectRevert(consent().connect(patient).revoke(clin.address), iface(), 'NoGrant', [patient.address, clin.address]);
    });

    it('revoke by anyone but the patient finds no grant', async () => {
      const e = await expiryIn(3600);
      await send(consent().connect(patient).grant(clin2.address, streams, FROM, UNTIL, e, 'treatment'));
      await expectRevert(consent().connect(clin2).revoke(clin2.address), iface(), 'NoGrant');
      assert.equal(await canAccess(clin2.address, patient.address, ECG, FROM), true);
    });

    it('grant reverts: not a patient, bad grantee, streams, window, expiry, purpose', async () => {
      const e = await expiryIn(3600);
      const now = await latestTimestamp(f);
      const p = consent().connect(patient);
      await expectRevert(consent().connect(stranger).grant(clin.address, 1, FROM, UNTIL, e, 'x'), iface(), 'NotPatient', [stranger.address]);
      await expectRevert(p.grant(stranger.address, 1, FROM, UNTIL, e, 'x'), iface(), 'InvalidGrantee', [stranger.address]);
      await expectRevert(p.grant(patient2.address, 1, FROM, UNTIL, e, 'x'), iface(), 'InvalidGrantee');
      await expectRevert(p.grant(clin.address, 0, FROM, UNTIL, e, 'x'), iface(), 'InvalidStreams', [0n]);
      await expectRevert(p.grant(clin.address, 0x200, FROM, UNTIL, e, 'x'), iface(), 'InvalidStreams', [0x200n]);
      await expectRevert(p.grant(clin.address, 1, UNTIL, FROM, e, 'x'), iface(), 'InvalidDataWindow');
      await expectRevert(p.grant(clin.address, 1, FROM, UNTIL, now - 10, 'x'), iface(), 'InvalidExpiry');
      await expectRevert(p.grant(clin.address, 1, FROM, UNTIL, e, ''), iface(), 'PurposeRequired');
      // a window of a single millisecond is valid
      await send(p.grant(clin.address, 1, FROM, FROM, e, 'x'));
      assert.equal(await canAccess(clin.address, patient.address, ECG, FROM), true);
      assert.equal(await canAccess(clin.address, patient.address, ECG, FROM + 1), false);
      await send(p.revoke(clin.address));
    });
  });

  describe('EIP-712 signed consents', () => {
    const streams = streamMask([SPO2]);
    let domain: ReturnType<typeof consentDomain>;

    before(async () => {
      domain = consentDomain(f.node.chainId, await consent().getAddress());
    });

    async function message(over: Partial<ConsentMessage> = {}): Promise<ConsentMessage> {
      return {
        patient: patient.address,
        grantee: clin.address,
        streams,
        dataFrom: FROM,
        dataUntil: UNTIL,
        expiry: await expiryIn(3600),
        purpose: 'remote monitoring',
        nonce: await consent().nonces(patient.address),
        deadline: await expiryIn(600),
        ...over,
      };
    }

    function relay(m: ConsentMessage, sig: string) {
      return consent()
        .connect(relayer)
        .grantBySig(m.patient, m.grantee, m.streams, m.dataFrom, m.dataUntil, m.expiry, m.purpose, m.nonce, m.deadline, sig);
    }

    it('the domain separator and type hashes match ethers TypedDataEncoder', async () => {
      assert.equal(await consent().DOMAIN_SEPARATOR(), TypedDataEncoder.hashDomain(domain));
      assert.equal(await consent().CONSENT_TYPEHASH(), keccak256(toUtf8Bytes(TypedDataEncoder.from(CONSENT_TYPES).encodeType('Consent'))));
      assert.equal(await consent().REVOKE_TYPEHASH(), keccak256(toUtf8Bytes(TypedDataEncoder.from(REVOKE_TYPES).encodeType('Revoke'))));
      const d = await consent().eip712Domain();
      assert.equal(d.name, 'Vitalgate Consent');
      assert.equal(d.version, '1');
    });

    it('grantBySig relayed by anyone: event (bySignature), access, nonce consumed', async () => {
      const m = await message();
      const sig = await signConsent(patient, domain, m);
      const receipt = await send(relay(m, sig));
      const ev = oneEvent(receipt, iface(), 'Granted');
      assert.equal(ev[0], patient.address);
      assert.equal(ev[1], clin.address);
      assert.equal(ev[6], 'remote monitoring');
      assert.equal(ev[7], true);
      assert.equal(await consent().nonces(patient.address), BigInt(m.nonce) + 1n);
      assert.equal(await canAccess(clin.address, patient.address, SPO2, FROM), true);
      assert.equal(await canAccess(clin.address, patient.address, ECG, FROM), false);

      // replayed signature
      await expectRevert(relay(m, sig), iface(), 'InvalidAccountNonce', [patient.address, BigInt(m.nonce) + 1n]);
    });

    it('cancelNonces: a signed consent nobody has relayed yet is cancelled by its patient, and stays cancelled', async () => {
      const m = await message();
      const later = await message({ nonce: BigInt(m.nonce) + 1n, purpose: 'second' });
      const [sig, laterSig] = [await signConsent(patient, domain, m), await signConsent(patient, domain, later)];
      const receipt = await send(consent().connect(patient).cancelNonces(later.nonce));
      assert.deepEqual(oneEvent(receipt, iface(), 'NoncesCancelled'), [patient.address, BigInt(m.nonce), BigInt(later.nonce)]);
      await expectRevert(relay(m, sig), iface(), 'InvalidAccountNonce', [patient.address, BigInt(later.nonce) + 1n]);
      await expectRevert(relay(later, laterSig), iface(), 'InvalidAccountNonce', [patient.address, BigInt(later.nonce) + 1n]);
      await expectRevert(consent().connect(patient).cancelNonces(m.nonce), iface(), 'NothingToCancel', [BigInt(m.nonce), BigInt(later.nonce) + 1n]);
      // Another patient's nonces are untouched, and a huge upTo is bounded per call.
      const before = await consent().nonces(patient2.address);
      await send(consent().connect(patient2).cancelNonces(before + 1000n));
      assert.equal(await consent().nonces(patient2.address), before + (await consent().MAX_NONCES_CANCELLED()));
    });

    it('bad signatures revert: wrong signer, tampered field, garbage', async () => {
      const m = await message();
      await expectRevert(relay(m, await signConsent(stranger, domain, m)), iface(), 'InvalidSignature');
      const sig = await signConsent(patient, domain, m);
      await expectRevert(relay({ ...m, streams: ALL_STREAMS }, sig), iface(), 'InvalidSignature');
      await expectRevert(relay({ ...m, grantee: clin2.address }, sig), iface(), 'InvalidSignature');
      await expectRevert(relay({ ...m, purpose: 'research' }, sig), iface(), 'InvalidSignature');
      await expectRevert(relay(m, `0x${'11'.repeat(65)}`), iface(), 'InvalidSignature');
      await expectRevert(relay(m, '0x1234'), iface(), 'InvalidSignature');
      // signed for another chain or contract
      const other = consentDomain(1, await consent().getAddress());
      await expectRevert(relay(m, await signConsent(patient, other, m)), iface(), 'InvalidSignature');
    });

    it('a signature with a future nonce reverts', async () => {
      const m = await message();
      const ahead = { ...m, nonce: BigInt(m.nonce) + 5n };
      await expectRevert(relay(ahead, await signConsent(patient, domain, ahead)), iface(), 'InvalidAccountNonce');
    });

    it('deadline: usable at block.timestamp == deadline, expired after', async () => {
      const now = await latestTimestamp(f);
      const m = await message({ deadline: now + 50, grantee: clin2.address });
      const sig = await signConsent(patient, domain, m);
      const late = await message({ deadline: now + 50, nonce: BigInt(m.nonce) + 1n });
      const lateSig = await signConsent(patient, domain, late);
      await setNextTimestamp(f, now + 50);
      await send(relay(m, sig));
      await mineAt(f, now + 51);
      await expectRevert(relay(late, lateSig), iface(), 'ExpiredDeadline', [BigInt(now + 50)]);
    });

    it('the signed grant is validated like a direct one', async () => {
      const m = await message({ streams: 0 });
      await expectRevert(relay(m, await signConsent(patient, domain, m)), iface(), 'InvalidStreams');
    });

    it('revokeBySig: event, access ends; replay, bad signature and expired deadline revert', async () => {
      const nonce = await consent().nonces(patient.address);
      const deadline = await expiryIn(600);
      const rm = { patient: patient.address, grantee: clin.address, nonce, deadline };
      const sig = await signRevoke(patient, domain, rm);
      const revoke = (s: string, over: Partial<typeof rm> = {}) => {
        const x = { ...rm, ...over };
        return consent().connect(relayer).revokeBySig(x.patient, x.grantee, x.nonce, x.deadline, s);
      };
      await expectRevert(revoke(await signRevoke(stranger, domain, rm)), iface(), 'InvalidSignature');
      await expectRevert(revoke(sig, { grantee: clin2.address }), iface(), 'InvalidSignature');
      const receipt = await send(revoke(sig));
      assert.deepEqual(oneEvent(receipt, iface(), 'Revoked'), [patient.address, clin.address, true]);
      assert.equal(await canAccess(clin.address, patient.address, SPO2, FROM), false);
      await expectRevert(revoke(sig), iface(), 'InvalidAccountNonce');
      const now = await latestTimestamp(f);
      const old = { ...rm, nonce: nonce + 1n, deadline: now - 1 };
      await expectRevert(revoke(await signRevoke(patient, domain, old), old), iface(), 'ExpiredDeadline');
    });
  });

  describe('care teams as grantees', () => {
    it('a grant to a care team covers its members, and the team address itself', async () => {
      const e = await expiryIn(3600);
      await send(consent().connect(patient2).grant(team, streamMask([HR]), FROM, UNTIL, e, 'icu stay'));
      assert.equal(await canAccess(member.address, patient2.address, HR, FROM), true);
      assert.equal(await canAccess(team, patient2.address, HR, FROM), true);
      assert.equal(await canAccess(member.address, patient2.address, ECG, FROM), false);
      assert.equal(await canAccess(member.address, patient2.address, HR, UNTIL + 1), false);
      assert.equal(await canAccess(clin.address, patient2.address, HR, FROM), false, 'not a member');
    });

    it('accessOf answers for many patients at once what grantOf, careTeamsOf and breakGlassUntil answer one by one', async () => {
      const { teams, grantedStreams } = await assertAccessOfMatches([patient.address, patient2.address, stranger.address, patient2.address], member.address);
      assert.deepEqual(teams, [team]);
      // patient2 granted the team HR; nobody granted the member itself or the team anything else.
      assert.deepEqual(grantedStreams, [0n, 0n, 0n, BigInt(streamMask([HR])), 0n, 0n, 0n, BigInt(streamMask([HR]))]);
      const none = await consent().accessOf([], member.address);
      assert.equal(none.grants.length, 0);
      await send(f.c.registry.ban(member.address, 'misuse'));
      try {
        assert.equal((await consent().accessOf([patient2.address], member.address)).banned, true);
      } finally {
        await send(f.c.registry.unban(member.address));
      }
    });

    it('a member removed from the team loses access; re-added gains it', async () => {
      await send(f.c.registry.removeCareTeamMember(team, member.address));
      assert.equal(await canAccess(member.address, patient2.address, HR, FROM), false);
      await send(f.c.registry.addCareTeamMember(team, member.address));
      assert.equal(await canAccess(member.address, patient2.address, HR, FROM), true);
    });

    it('a banned member is denied, also through the team', async () => {
      await send(f.c.registry.ban(member.address, 'misuse'));
      assert.equal(await canAccess(member.address, patient2.address, HR, FROM), false);
      await send(f.c.registry.unban(member.address));
      assert.equal(await canAccess(member.address, patient2.address, HR, FROM), true);
    });

    it('revoking the team grant ends the members’ access', async () => {
      await send(consent().connect(patient2).revoke(team));
      assert.equal(await canAccess(member.address, patient2.address, HR, FROM), false);
    });
  });

  describe('banned requesters and removed clinicians', () => {
    it('a banned grantee is denied despite an active grant, until unbanned', async () => {
      const e = await expiryIn(3600);
      await send(consent().connect(patient).grant(clin.address, ALL_STREAMS, FROM, UNTIL, e, 'treatment'));
      assert.equal(await canAccess(clin.address, patient.address, ECG, FROM), true);
      await send(f.c.registry.ban(clin.address, 'repeated denied requests'));
      assert.equal(await canAccess(clin.address, patient.address, ECG, FROM), false, 'banned requester');
      await send(f.c.registry.unban(clin.address));
      assert.equal(await canAccess(clin.address, patient.address, ECG, FROM), true);
    });

    it('a clinician whose role is revoked is denied', async () => {
      const r = f.c.registry;
      assert.equal((await consent().accessOf([patient.address], clin.address)).isClinician, true);
      await send(r.revokeRole(await r.CLINICIAN_ROLE(), clin.address));
      assert.equal(await canAccess(clin.address, patient.address, ECG, FROM), false);
      assert.equal((await consent().accessOf([patient.address], clin.address)).isClinician, false, 'accessOf says so too');
    });
  });

  describe('break-glass', () => {
    const UNCONSCIOUS = 0;

    it('reverts without a reason text, with an unknown reason code, a zero or too long duration, for non-clinicians, banned clinicians, unknown patients', async () => {
      const c = consent().connect(clin2);
      await expectRevert(c.breakGlass(patient.address, UNCONSCIOUS, '', 60), iface(), 'ReasonRequired');
      await expectRevert(c.breakGlass(patient.address, 4, 'collapsed', 60), iface(), 'InvalidReasonCode', [4n]);
      await expectRevert(c.breakGlass(patient.address, UNCONSCIOUS, 'collapsed', 0), iface(), 'InvalidDuration', [0n, BigInt(BREAK_GLASS_SECONDS)]);
      await expectRevert(c.breakGlass(patient.address, UNCONSCIOUS, 'collapsed', BREAK_GLASS_SECONDS + 1), iface(), 'InvalidDuration', [BigInt(BREAK_GLASS_SECONDS + 1), BigInt(BREAK_GLASS_SECONDS)]);
      await expectRevert(consent().connect(stranger).breakGlass(patient.address, UNCONSCIOUS, 'collapsed', 60), iface(), 'NotClinician', [stranger.address]);
      await expectRevert(consent().connect(clin).breakGlass(patient.address, UNCONSCIOUS, 'collapsed', 60), iface(), 'NotClinician', [clin.address]);
      await expectRevert(c.breakGlass(stranger.address, UNCONSCIOUS, 'collapsed', 60), iface(), 'NotPatient', [stranger.address]);
      await send(f.c.registry.ban(clin2.address, 'misuse'));
      await expectRevert(c.breakGlass(patient2.address, UNCONSCIOUS, 'collapsed', 60), iface(), 'RequesterBanned', [clin2.address]);
      await send(f.c.registry.unban(clin2.address));
      assert.equal(await f.c.registry.breakGlassUsesOf(clin2.address), 0n, 'refused attempts are not uses');
    });

    it('with a reason code and text: event always emitted (with the use count), all streams and any data time for the asked duration', async () => {
      assert.equal(await canAccess(clin2.address, patient2.address, ECG, 0), false);
      const start = (await latestTimestamp(f)) + 5;
      await setNextTimestamp(f, start);
      const receipt = await send(consent().connect(clin2).breakGlass(patient2.address, UNCONSCIOUS, 'unconscious on arrival', BREAK_GLASS_SECONDS));
      const until = start + BREAK_GLASS_SECONDS;
      assert.deepEqual(oneEvent(receipt, iface(), 'BreakGlass'), [patient2.address, clin2.address, BigInt(until), BigInt(UNCONSCIOUS), 'unconscious on arrival', 1n]);
      assert.equal(await consent().breakGlassUntil(patient2.address, clin2.address), BigInt(until));
      await assertAccessOfMatches([patient.address, patient2.address], clin2.address);
      assert.equal(await f.c.registry.breakGlassUsesOf(clin2.address), 1n);
      assert.equal(await f.c.registry.deniedCount(clin2.address), 0n, 'the first use is no strike');
      for (const s of [0, 4, 8]) assert.equal(await canAccess(clin2.address, patient2.address, s, 0), true);
      assert.equal(await canAccess(clin2.address, patient2.address, HR, MAX_DATA_TS), true);
      assert.equal(await canAccess(clin2.address, patient2.address, 9, 0), false);
      assert.equal(await canAccess(clin2.address, patient.address, ECG, 0), false, 'only that patient');

      // banned during the session: denied
      await send(f.c.registry.ban(clin2.address, 'misuse'));
      assert.equal(await canAccess(clin2.address, patient2.address, ECG, 0), false);
      await send(f.c.registry.unban(clin2.address));

      await mineAt(f, until - 1);
      assert.equal(await canAccess(clin2.address, patient2.address, ECG, 0), true);
      await mineAt(f, until);
      assert.equal(await canAccess(clin2.address, patient2.address, ECG, 0), false, 'time box over');
    });

    it('the patient can end a session at once; a stranger cannot; a clinician can end their own', async () => {
      await send(consent().connect(clin2).breakGlass(patient2.address, 1, 'cardiac arrest', 120));
      assert.equal(await canAccess(clin2.address, patient2.address, ECG, 0), true);
      await expectRevert(consent().connect(stranger).endBreakGlass(patient2.address, clin2.address), iface(), 'NotPatientOrClinician', [stranger.address]);
      const receipt = await send(consent().connect(patient2).endBreakGlass(patient2.address, clin2.address));
      assert.deepEqual(oneEvent(receipt, iface(), 'BreakGlassEnded'), [patient2.address, clin2.address, patient2.address]);
      assert.equal(await canAccess(clin2.address, patient2.address, ECG, 0), false, 'ended by the patient');
      await expectRevert(consent().connect(patient2).endBreakGlass(patient2.address, clin2.address), iface(), 'NoBreakGlass', [patient2.address, clin2.address]);
      await send(consent().connect(clin2).breakGlass(patient2.address, 1, 'cardiac arrest, again', 120));
      await send(consent().connect(clin2).endBreakGlass(patient2.address, clin2.address));
      assert.equal(await canAccess(clin2.address, patient2.address, ECG, 0), false, 'ended by the clinician');
    });

    it('every use is counted per clinician; repeated uses are strikes toward the ban threshold', async () => {
      const r = f.c.registry;
      await send(r.setDenyThreshold(2));
      try {
        const uses = Number(await r.breakGlassUsesOf(clin2.address));
        const denied = Number(await r.deniedCount(clin2.address));
        assert.ok(uses >= 3 && denied === uses - 1, `uses ${uses}, strikes ${denied}: every use after the first is a strike`);
        assert.equal(await r.isBanned(clin2.address), false, 'the threshold is only checked when a strike is added');
        const receipt = await send(consent().connect(clin2).breakGlass(patient2.address, 2, 'cannot consent', 60));
        assert.equal(events(receipt, r.interface, 'RequesterBanned').length, 1, 'the strike that crosses the threshold bans');
        assert.equal(await r.isBanned(clin2.address), true);
        assert.equal(await canAccess(clin2.address, patient2.address, ECG, 0), false, 'a banned clinician sees nothing, even in a session');
        await expectRevert(consent().connect(clin2).breakGlass(patient2.address, 2, 'cannot consent', 60), iface(), 'RequesterBanned', [clin2.address]);
      } finally {
        await send(r.setDenyThreshold(0));
        if (await r.isBanned(clin2.address)) await send(r.unban(clin2.address));
      }
    });
  });
});
