import assert from 'node:assert/strict';
import { ZeroAddress, ZeroHash } from 'ethers';
import { patientRef } from '../../src/index.js';
import { expectRevert, oneEvent, randomKey33, send, setup, teardown, wallet, events, type Fixture } from './helpers.js';

describe('contracts: Registry (on anvil)', function () {
  let f: Fixture;
  before(async () => {
    f = await setup({ denyThreshold: 3 });
  });
  after(async () => {
    await teardown(f);
  });

  const r = () => f.c.registry;
  const iface = () => f.c.registry.interface;

  it('the deployer is admin and auditor; denyThreshold is set', async () => {
    const admin = wallet(f, 0).address;
    assert.ok(await r().hasRole(await r().DEFAULT_ADMIN_ROLE(), admin));
    assert.ok(await r().hasRole(await r().AUDITOR_ROLE(), admin));
    assert.equal(await r().denyThreshold(), 3n);
  });

  describe('gateways', () => {
    it('registerGateway: event, view, mirrored role', async () => {
      const gw = wallet(f, 1).address;
      const receipt = await send(r().registerGateway(gw));
      assert.deepEqual(oneEvent(receipt, iface(), 'GatewayRegistered'), [gw]);
      assert.equal(events(receipt, iface(), 'RoleGranted').length, 1);
      assert.equal(await r().isGateway(gw), true);
      assert.equal(await r().hasRole(await r().GATEWAY_ROLE(), gw), true);
      assert.equal(await r().canAnchor(gw), false, 'no patient yet');
    });

    it('registerGateway reverts: unauthorised caller, duplicate, zero address', async () => {
      const stranger = wallet(f, 9);
      await expectRevert(r().connect(stranger).registerGateway(wallet(f, 8).address), iface(), 'AccessControlUnauthorizedAccount', [
        stranger.address,
        await r().DEFAULT_ADMIN_ROLE(),
      ]);
      await expectRevert(r().registerGateway(wallet(f, 1).address), iface(), 'AlreadyRegistered');
      await expectRevert(r().registerGateway(ZeroAddress), iface(), 'ZeroAddress');
    });

    it('grantRole(GATEWAY_ROLE) / revokeRole keep isGateway in step', async () => {
      const gw = wallet(f, 7).address;
      const role = await r().GATEWAY_ROLE();
      await send(r().grantRole(role, gw));
      assert.equal(await r().isGateway(gw), true);
      await send(r().revokeRole(role, gw));
      assert.equal(await r().isGateway(gw), false);
    });

    it('grantRole of PATIENT_ROLE or CLINICIAN_ROLE must go through the register functions', async () => {
      await expectRevert(r().grantRole(await r().PATIENT_ROLE(), wallet(f, 8).address), iface(), 'UseRegisterFunction');
      await expectRevert(r().grantRole(await r().CLINICIAN_ROLE(), wallet(f, 8).address), iface(), 'UseRegisterFunction');
    });
  });

  describe('patients', () => {
    it('registerPatient: events, views, gateway binding, canAnchor', async () => {
      const gw = wallet(f, 1).address;
      const p = wallet(f, 2).address;
      const ref = patientRef('patient-0001');
      const receipt = await send(r().registerPatient(p, ref, gw));
      assert.deepEqual(oneEvent(receipt, iface(), 'PatientRegistered'), [p, ref]);
      assert.deepEqual(oneEvent(receipt, iface(), 'PatientGatewaySet'), [p, gw, ZeroAddress]);
      assert.equal(await r().isPatient(p), true);
      assert.equal(await r().patientRefOf(p), ref);
      assert.equal(await r().patientByRef(ref), p);
      assert.equal(await r().gatewayOf(p), gw);
      assert.equal(await r().patientCountOf(gw), 1n);
      assert.equal(await r().canAnchor(gw), true);
    });

    it('registerPatient reverts: unauthorised, zero address, zero ref, duplicate patient, ref taken, not a gateway', async () => {
      const gw = wallet(f, 1).address;
      const p2 = wallet(f, 3).address;
      await expectRevert(
        r().connect(wallet(f, 9)).registerPatient(p2, patientRef('x'), gw),
        iface(),
        'AccessControlUnauthorizedAccount',
      );
      await expectRevert(r().registerPatient(ZeroAddress, patientRef('x'), gw), iface(), 'ZeroAddress');
      await expectRevert(r().registerPatient(p2, ZeroHash, gw), iface(), 'InvalidPatientRef', [ZeroHash]);
      await expectRevert(r().registerPatient(wallet(f, 2).address, patientRef('y'), gw), iface(), 'AlreadyRegistered');
      await expectRevert(r().registerPatient(p2, patientRef('patient-0001'), gw), iface(), 'PatientRefTaken');
      await expectRevert(r().registerPatient(p2, patientRef('y'), wallet(f, 9).address), iface(), 'NotGateway', [
        wallet(f, 9).address,
      ]);
    });

    it('setPatientGateway by the patient or the admin moves the patient; others cannot', async () => {
      const gw1 = wallet(f, 1).address;
      const gw2 = wallet(f, 6).address;
      const p = wallet(f, 2);
      await send(r().registerGateway(gw2));
      const receipt = await send(r().connect(p).setPatientGateway(p.address, gw2));
      assert.deepEqual(oneEvent(receipt, iface(), 'PatientGatewaySet'), [p.address, gw2, gw1]);
      assert.equal(await r().gatewayOf(p.address), gw2);
      assert.equal(await r().patientCountOf(gw1), 0n);
      assert.equal(await r().patientCountOf(gw2), 1n);
      assert.equal(await r().canAnchor(gw1), false);
      await send(r().setPatientGateway(p.address, gw1));
      assert.equal(await r().gatewayOf(p.address), gw1);
      assert.equal(await r().patientCountOf(gw1), 1n);
      await expectRevert(r().connect(wallet(f, 9)).setPatientGateway(p.address, gw2), iface(), 'Unauthorized', [
        wallet(f, 9).address,
      ]);
      await expectRevert(r().setPatientGateway(wallet(f, 9).address, gw2), iface(), 'NotPatient');
      await expectRevert(r().setPatientGateway(p.address, wallet(f, 9).address), iface(), 'NotGateway');
    });
  });

  describe('clinicians', () => {
    it('registerClinician: event, key view', async () => {
      const c = wallet(f, 4).address;
      const key = randomKey33();
      const receipt = await send(r().registerClinician(c, key));
      assert.deepEqual(oneEvent(receipt, iface(), 'ClinicianRegistered'), [c, key]);
      assert.equal(await r().isClinician(c), true);
      assert.equal(await r().encryptionKeyOf(c), key);
    });

    it('registerClinician reverts: unauthorised, bad key length, duplicate, zero address', async () => {
      await expectRevert(
        r().connect(wallet(f, 9)).registerClinician(wallet(f, 5).address, randomKey33()),
        iface(),
        'AccessControlUnauthorizedAccount',
      );
      await expectRevert(r().registerClinician(wallet(f, 5).address, '0x1234'), iface(), 'InvalidEncryptionKey');
      await expectRevert(r().registerClinician(wallet(f, 5).address, '0x'), iface(), 'InvalidEncryptionKey');
      await expectRevert(r().registerClinician(wallet(f, 4).address, randomKey33()), iface(), 'AlreadyRegistered');
      await expectRevert(r().registerClinician(ZeroAddress, randomKey33()), iface(), 'ZeroAddress');
    });

    it('accepts 32-, 33- and 65-byte keys; setEncryptionKey by the clinician only', async () => {
      const c = wallet(f, 4);
      const k32 = `0x${'ab'.repeat(32)}`;
      const k65 = `0x04${'cd'.repeat(64)}`;
      let receipt = await send(r().connect(c).setEncryptionKey(k32));
      assert.deepEqual(oneEvent(receipt, iface(), 'EncryptionKeySet'), [c.address, k32]);
      receipt = await send(r().connect(c).setEncryptionKey(k65));
      assert.equal(await r().encryptionKeyOf(c.address), k65);
      await expectRevert(r().connect(wallet(f, 9)).setEncryptionKey(k32), iface(), 'NotClinician', [wallet(f, 9).address]);
      await expectRevert(r().connect(c).setEncryptionKey(`0x${'ab'.repeat(64)}`), iface(), 'InvalidEncryptionKey');
    });
  });

  describe('care teams', () => {
    let team: string;
    it('createCareTeam: event with the pseudo-address careTeamAddress(index)', async () => {
      const receipt = await send(r().createCareTeam('cardiology'));
      const [t, index, name] = oneEvent(receipt, iface(), 'CareTeamCreated') as [string, bigint, string];
      team = t;
      assert.equal(index, 1n);
      assert.equal(name, 'cardiology');
      assert.equal(team, await r().careTeamAddress(1));
      assert.equal(await r().isCareTeam(team), true);
      assert.equal(await r().careTeamCount(), 1n);
      await expectRevert(r().connect(wallet(f, 9)).createCareTeam('x'), iface(), 'AccessControlUnauthorizedAccount');
    });

    it('addCareTeamMember / removeCareTeamMember: events, views, reverts', async () => {
      const c = wallet(f, 4).address;
      let receipt = await send(r().addCareTeamMember(team, c));
      assert.deepEqual(oneEvent(receipt, iface(), 'CareTeamMemberAdded'), [team, c]);
      assert.deepEqual([...(await r().careTeamMembers(team))], [c]);
      assert.deepEqual([...(await r().careTeamsOf(c))], [team]);
      assert.equal(await r().isCareTeamMember(team, c), true);
      await expectRevert(r().addCareTeamMember(team, c), iface(), 'AlreadyMember', [team, c]);
      await expectRevert(r().addCareTeamMember(wallet(f, 9).address, c), iface(), 'UnknownCareTeam');
      await expectRevert(r().addCareTeamMember(team, wallet(f, 9).address), iface(), 'NotClinician');
      await expectRevert(r().connect(wallet(f, 9)).addCareTeamMember(team, c), iface(), 'AccessControlUnauthorizedAccount');
      await expectRevert(r().connect(wallet(f, 9)).removeCareTeamMember(team, c), iface(), 'AccessControlUnauthorizedAccount');
      receipt = await send(r().removeCareTeamMember(team, c));
      assert.deepEqual(oneEvent(receipt, iface(), 'CareTeamMemberRemoved'), [team, c]);
      assert.deepEqual([...(await r().careTeamsOf(c))], []);
      await expectRevert(r().removeCareTeamMember(team, c), iface(), 'NotMember', [team, c]);
    });

    it('a clinician belongs to at most MAX_TEAMS_PER_CLINICIAN teams', async () => {
      const c = wallet(f, 4).address;
      const max = Number(await r().MAX_TEAMS_PER_CLINICIAN());
      for (let i = 0; i < max; i++) {
        await send(r().createCareTeam(`team ${i}`));
        const t = await r().careTeamAddress(await r().careTeamCount());
        await send(r().addCareTeamMember(t, c));
      }
      await send(r().createCareTeam('one too many'));
      const last = await r().careTeamAddress(await r().careTeamCount());
      await expectRevert(r().addCareTeamMember(last, c), iface(), 'TooManyTeams', [c]);
      assert.equal((await r().careTeamsOf(c)).length, max);
    });
  });

  describe('penalties', () => {
    it('reportDenied by the auditor counts, and bans at the threshold', async () => {
      const req = wallet(f, 5).address;
      let receipt = await send(r().reportDenied(req, 1));
      assert.deepEqual(oneEvent(receipt, iface(), 'DeniedReported'), [req, 1n, 1n]);
      assert.equal(events(receipt, iface(), 'RequesterBanned').length, 0);
      receipt = await send(r().reportDenied(req, 2));
      assert.deepEqual(oneEvent(receipt, iface(), 'DeniedReported'), [req, 2n, 3n]);
      assert.deepEqual(oneEvent(receipt, iface(), 'RequesterBanned'), [req, wallet(f, 0).address, 'repeated denied requests']);
      assert.equal(await r().isBanned(req), true);
      assert.equal(await r().deniedCount(req), 3n);
      // further reports count but do not ban again
      receipt = await send(r().reportDenied(req, 1));
      assert.equal(events(receipt, iface(), 'RequesterBanned').length, 0);
    });

    it('reportDenied by anyone else reverts', async () => {
      const stranger = wallet(f, 9);
      await expectRevert(r().connect(stranger).reportDenied(wallet(f, 5).address, 1), iface(), 'AccessControlUnauthorizedAccount', [
        stranger.address,
        await r().AUDITOR_ROLE(),
      ]);
    });

    it('unban by the admin lifts the ban and resets the count; others cannot; not banned reverts', async () => {
      const req = wallet(f, 5).address;
      await expectRevert(r().connect(wallet(f, 9)).unban(req), iface(), 'AccessControlUnauthorizedAccount');
      const receipt = await send(r().unban(req));
      assert.deepEqual(oneEvent(receipt, iface(), 'RequesterUnbanned'), [req, wallet(f, 0).address]);
      assert.equal(await r().isBanned(req), false);
      assert.equal(await r().deniedCount(req), 0n);
      await expectRevert(r().unban(req), iface(), 'NotBanned', [req]);
    });

    it('ban by the admin or an auditor, with a mandatory reason', async () => {
      const req = wallet(f, 5).address;
      const auditor = wallet(f, 8);
      await send(r().grantRole(await r().AUDITOR_ROLE(), auditor.address));
      await expectRevert(r().ban(req, ''), iface(), 'ReasonRequired');
      await expectRevert(r().connect(wallet(f, 9)).ban(req, 'x'), iface(), 'Unauthorized', [wallet(f, 9).address]);
      let receipt = await send(r().connect(auditor).ban(req, 'scraping'));
      assert.deepEqual(oneEvent(receipt, iface(), 'RequesterBanned'), [req, auditor.address, 'scraping']);
      await expectRevert(r().ban(req, 'again'), iface(), 'AlreadyBanned', [req]);
      await send(r().unban(req));
      receipt = await send(r().ban(req, 'by admin'));
      assert.deepEqual(oneEvent(receipt, iface(), 'RequesterBanned'), [req, wallet(f, 0).address, 'by admin']);
      await send(r().unban(req));
    });

    it('a banned gateway cannot anchor (canAnchor false) until unbanned', async () => {
      const gw = wallet(f, 1).address;
      assert.equal(await r().canAnchor(gw), true);
      await send(r().ban(gw, 'bad anchors'));
      assert.equal(await r().canAnchor(gw), false);
      await send(r().unban(gw));
      assert.equal(await r().canAnchor(gw), true);
    });

    it('setDenyThreshold: admin only, event; 0 disables the auto-ban', async () => {
      await expectRevert(r().connect(wallet(f, 9)).setDenyThreshold(1), iface(), 'AccessControlUnauthorizedAccount');
      const receipt = await send(r().setDenyThreshold(0));
      assert.deepEqual(oneEvent(receipt, iface(), 'DenyThresholdSet'), [0n]);
      const req = wallet(f, 9).address;
      await send(r().reportDenied(req, 1000));
      assert.equal(await r().isBanned(req), false);
    });
  });
});
