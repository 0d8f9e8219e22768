/**
 * AccessFollower.windowsOfPatients on anvil: a clinician's windows on many patients at once, from
 * Consent.accessOf, against what it must say (own grants, a care team's, break-glass, expiry, ban,
 * a revoked clinician role) and against the same follower on a Consent that has no accessOf (an
 * older deployment), which reads the one-question views instead.
 */
import assert from 'node:assert/strict';
import { Wallet, type JsonRpcProvider } from 'ethers';
import { AccessFollower, Consent__factory, MAX_DATA_TS, patientRef, streamMask, type AccessWindow, type VitalgateContracts } from '../../src/index.js';
import { latestTimestamp, randomKey33, send, setup, teardown, wallet, type Fixture } from './helpers.js';

const HR = 2;
const SPO2 = 3;

describe('contracts: AccessFollower.windowsOfPatients (on anvil)', function () {
  this.timeout(60_000);
  let f: Fixture;
  let gateway: Wallet, p1: Wallet, p2: Wallet, p3: Wallet, doc: Wallet, other: Wallet;
  let team: string;
  const warnings: string[] = [];

  before(async () => {
    f = await setup({ breakGlassSeconds: 600, denyThreshold: 0 });
    [gateway, p1, p2, p3, doc, other] = [1, 2, 3, 4, 5, 6].map((i) => wallet(f, i)) as [Wallet, Wallet, Wallet, Wallet, Wallet, Wallet];
    const r = f.c.registry;
    await send(r.registerGateway(gateway.address));
    for (const [i, p] of [p1, p2, p3].entries()) await send(r.registerPatient(p.address, patientRef(`follower-${i}`), gateway.address));
    for (const c of [doc, other]) await send(r.registerClinician(c.address, randomKey33()));
    await send(r.createCareTeam('ward 7'));
    team = await r.careTeamAddress(1);
    await send(r.addCareTeamMember(team, doc.address));
    const now = await latestTimestamp(f);
    // p1 grants doc HR; p2 grants doc's team SpO2 over a data window; p3 grants nothing, but doc breaks the glass.
    await send(f.c.consent.connect(p1).grant(doc.address, streamMask([HR]), 0, MAX_DATA_TS, now + 3600, 'treatment'));
    await send(f.c.consent.connect(p2).grant(team, streamMask([SPO2]), 1_000, 2_000, now + 7200, 'ward'));
    await send(f.c.consent.connect(doc).breakGlass(p3.address, 0, 'unconscious on arrival', 600));
  });
  after(() => teardown(f));

  /** A follower caught up with the chain's events (break-glass starts come from them). */
  async function follower(c: VitalgateContracts): Promise<AccessFollower> {
    const fl = new AccessFollower(c, f.deployment, { info: () => undefined, warn: (_o, m) => warnings.push(m ?? '') });
    await fl.poll();
    assert.ok(fl.ready);
    return fl;
  }

  /**
   * The same contracts, on a node that reports the Consent's code as one without accessOf (an older
   * deployment): the follower must then read the one-question views, which this Consent still has.
   */
  function olderConsent(): VitalgateContracts {
    const { Consent, AuditLog } = f.deployment.contracts;
    const real = f.provider;
    const provider: JsonRpcProvider = new Proxy(real, {
      get: (t, k) => {
        if (k === 'getCode') return (a: string) => t.getCode(a === Consent ? AuditLog : a);
        if (k === 'provider') return provider;
        const v = Reflect.get(t, k) as unknown;
        return typeof v === 'function' ? (v as (...x: unknown[]) => unknown).bind(t) : v;
      },
    });
    const consent = new Proxy(f.c.consent, { get: (t, k) => (k === 'runner' ? provider : Reflect.get(t, k)) });
    return { ...f.c, consent };
  }

  const shape = (ws: AccessWindow[][]) => ws.map((w) => w.map((x) => [x.via, x.grantee, x.streams, x.fromMs, x.untilMs]));

  it('says for every patient at once what each grant, team grant and break-glass allows, in order, past one call\'s worth of patients', async () => {
    const fl = await follower(f.c);
    const strangers = Array.from({ length: 120 }, () => Wallet.createRandom().address);
    const patients = [...strangers.slice(0, 60), p1.address, p2.address, p3.address, ...strangers.slice(60)];
    const all = await fl.windowsOfPatients(patients, doc.address);
    assert.equal(all.length, patients.length);
    assert.deepEqual(shape([all[60]!, all[61]!, all[62]!]), [
      [['grant', doc.address, streamMask([HR]), 0, MAX_DATA_TS]],
      [['care-team', team, streamMask([SPO2]), 1_000, 2_000]],
      [['break-glass', doc.address, 0x01ff, all[62]![0]!.fromMs, all[62]![0]!.untilMs]],
    ]);
    assert.ok(all[62]![0]!.untilMs - all[62]![0]!.fromMs === 600_000, 'the session\'s own span');
    assert.ok([...all.slice(0, 60), ...all.slice(63)].every((w) => w.length === 0), 'strangers: nothing');
    // One at a time says the same.
    for (const [i, p] of [p1, p2, p3].entries()) assert.deepEqual(shape([await fl.windows(p.address, doc.address)]), shape([all[60 + i]!]));
    assert.deepEqual(shape(await fl.windowsOfPatients([p1.address, p2.address, p3.address], other.address)), [[], [], []], 'another clinician: nothing');
  });

  it('a Consent without accessOf (an older deployment) gives the same answers from the one-question views, and says so once', async () => {
    const fresh = await follower(f.c);
    const older = await follower(olderConsent());
    // Past one call's worth of patients: the chunks are asked side by side, and it still says so once.
    const patients = [p1.address, p2.address, p3.address, ...Array.from({ length: 120 }, () => Wallet.createRandom().address)];
    for (const who of [doc.address, other.address]) {
      assert.deepEqual(shape(await older.windowsOfPatients(patients, who)), shape(await fresh.windowsOfPatients(patients, who)), who);
    }
    assert.equal(warnings.filter((w) => /no accessOf/.test(w)).length, 1);
  });

  it('a banned clinician, and one whose clinician role is revoked, see nothing, either way', async () => {
    const fresh = await follower(f.c);
    const older = await follower(olderConsent());
    const patients = [p1.address, p2.address, p3.address];
    await send(f.c.registry.ban(doc.address, 'misuse'));
    try {
      assert.deepEqual(shape(await fresh.windowsOfPatients(patients, doc.address)), [[], [], []]);
      assert.deepEqual(shape(await older.windowsOfPatients(patients, doc.address)), [[], [], []]);
    } finally {
      await send(f.c.registry.unban(doc.address));
    }
    assert.equal((await fresh.windowsOfPatients(patients, doc.address)).flat().length, 3, 'unbanned: back');
    await fresh.poll(); // the ban and unban above, read before listening
    const changes: string[] = [];
    fresh.onChange = (c) => changes.push(`${c.kind} ${c.event} ${c.patients === 'all' ? 'all' : c.patients.length}`);
    await send(f.c.registry.revokeRole(await f.c.registry.CLINICIAN_ROLE(), doc.address));
    await fresh.poll();
    assert.deepEqual(changes, ['narrowed RoleRevoked all'], 'caches drop what the role allowed at once');
    assert.deepEqual(shape(await fresh.windowsOfPatients(patients, doc.address)), [[], [], []]);
    assert.deepEqual(shape(await older.windowsOfPatients(patients, doc.address)), [[], [], []]);
  });
});
