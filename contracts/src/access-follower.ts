/**
 * Who may see whom, followed from the Consent and Registry logs by polling: who was ever granted
 * (directly, or through a care team) or broke the glass, and, as each event arrives, whether it
 * widens access (a grant, a new team member, break-glass) or narrows it (a revoke, a member
 * removed, a break-glass ended, a ban, a role taken away). The gateway uses it to issue key
 * envelopes and to start a new epoch when access narrows; ingest, to list a clinician's patients
 * and to drop its cached answers the moment access narrows.
 *
 * The scan starts at the deployment block at every start, so events missed while down are caught
 * up. Events only nominate candidates; whether one is authorised is read from the chain's current
 * state (windows, canAccess).
 */
import { getAddress, type Log } from 'ethers';
import type { Deployment, VitalgateContracts } from './deploy.js';
import { Consent__factory, Registry__factory } from './generated/typechain/index.js';

/** The part of a pino logger this needs. */
export interface FollowerLogger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
}

/**
 * A window of data a clinician may see now: streams (bit mask), readings timed [fromMs, untilMs]
 * (inclusive), until `expiresAt` (s, exclusive), and through whom: the clinician's own grant, a
 * care team's (`grantee` is the team), or break-glass (every stream, any time, while it lasts:
 * `fromMs`, `untilMs` are the session's own span).
 */
export interface AccessWindow {
  streams: number;
  fromMs: number;
  untilMs: number;
  expiresAt: number;
  via: 'grant' | 'care-team' | 'break-glass';
  grantee: string;
}

/** `catchUp`: read in the first scan after a start, from history (the start began a new epoch anyway). */
export interface AccessChange { kind: 'widened' | 'narrowed'; patients: string[] | 'all'; event: string; catchUp: boolean }

const consentIface = Consent__factory.createInterface();
const registryIface = Registry__factory.createInterface();
const ALL = 0x01ff;
const LOG_SPAN_BLOCKS = 5000;
/**
 * Patients per Consent.accessOf call. Each costs two cold storage reads per grant read, (1 + care
 * teams) grants: ~0.3 M gas for 50 patients without teams, ~4 M with the most teams (16), well
 * under the eth_call gas cap of common nodes.
 */
const ACCESS_OF_PATIENTS = 50;

/** The grant fields a window needs (Consent.Grant). */
interface GrantFields { streams: bigint; dataFrom: bigint; dataUntil: bigint; expiry: bigint }

/** Consent.accessOf's answer (access-follower.ts reads it from the views too, on an older Consent). */
export interface AccessAnswer { isClinician: boolean; banned: boolean; teams: readonly string[]; grants: readonly GrantFields[]; breakGlass: readonly bigint[] }

export class AccessFollower {
  /** Per patient account: every grantee ever granted (clinicians and care teams). */
  private readonly grantees = new Map<string, Set<string>>();
  /** Per patient account: clinician → start (s) of its latest break-glass session. */
  private readonly glass = new Map<string, Map<string, number>>();
  private cursor: number;
  private timer: NodeJS.Timeout | undefined;
  private polling: Promise<void> | undefined;
  private failing = false;
  private caughtUp = false;
  /** Whether the deployed Consent has accessOf (one deployed before it has not), once known. */
  private hasAccessOf: Promise<boolean> | undefined;
  onChange: ((c: AccessChange) => void) | undefined;

  constructor(private readonly c: VitalgateContracts, private readonly deployment: Deployment, private readonly log?: FollowerLogger) {
    this.cursor = deployment.deployedAtBlock - 1;
  }

  /** Catches up from the deployment block (in the background), then polls every `intervalMs`. */
  start(intervalMs = 1000): void {
    void this.poll();
    this.timer = setInterval(() => void this.poll(), intervalMs);
  }

  stop(): Promise<void> {
    clearInterval(this.timer);
    return this.polling ?? Promise.resolve();
  }

  /** Reads the logs since the last poll. A chain outage is logged once and retried at the next tick. */
  poll(): Promise<void> {
    this.polling ??= this.pollNow().finally(() => { this.polling = undefined; });
    return this.polling;
  }

  private async pollNow(): Promise<void> {
    const provider = this.c.consent.runner!.provider!;
    try {
      const head = await provider.getBlockNumber();
      if (head <= this.cursor) return;
      // In spans: public RPC endpoints cap the block range of one eth_getLogs.
      while (this.cursor < head) {
        const to = Math.min(head, this.cursor + LOG_SPAN_BLOCKS);
        const logs = await provider.getLogs({ address: [this.deployment.contracts.Consent, this.deployment.contracts.Registry], fromBlock: this.cursor + 1, toBlock: to });
        for (const l of logs) await this.apply(l);
        this.cursor = to;
      }
      this.caughtUp = true;
      if (this.failing) this.log?.info({}, 'chain reachable again: access events caught up');
      this.failing = false;
    } catch (e) {
      if (!this.failing) this.log?.warn({ err: (e as Error).message.split('\n')[0] }, 'cannot read access events from the chain; no envelope is issued until it answers');
      this.failing = true;
    }
  }

  private async apply(l: Log): Promise<void> {
    const isConsent = getAddress(l.address) === getAddress(this.deployment.contracts.Consent);
    const ev = (isConsent ? consentIface : registryIface).parseLog(l);
    if (!ev) return;
    const change = (kind: AccessChange['kind'], patients: string[] | 'all') => this.onChange?.({ kind, patients, event: ev.name, catchUp: !this.caughtUp });
    switch (ev.name) {
      case 'Granted': {
        const p = getAddress(ev.args.patient as string);
        const set = this.grantees.get(p) ?? new Set<string>();
        set.add(getAddress(ev.args.grantee as string));
        this.grantees.set(p, set);
        return change('widened', [p]);
      }
      case 'BreakGlass': {
        const p = getAddress(ev.args.patient as string);
        const m = this.glass.get(p) ?? new Map<string, number>();
        const block = await l.getBlock();
        m.set(getAddress(ev.args.clinician as string), block.timestamp);
        this.glass.set(p, m);
        if (this.caughtUp) this.log?.warn({ patient: p, clinician: getAddress(ev.args.clinician as string), reasonCode: Number(ev.args.reasonCode), until: Number(ev.args.until) }, 'BREAK-GLASS: emergency access to a patient of this gateway');
        return change('widened', [p]);
      }
      case 'Revoked':
      case 'BreakGlassEnded':
        return change('narrowed', [getAddress(ev.args.patient as string)]);
      case 'CareTeamMemberAdded':
        return change('widened', this.patientsGranting(getAddress(ev.args.team as string)));
      case 'CareTeamMemberRemoved':
        return change('narrowed', this.patientsGranting(getAddress(ev.args.team as string)));
      case 'RequesterBanned':
      // Any role taken away (a clinician's, most of all): what it allowed ends now, not when a cache expires.
      case 'RoleRevoked':
        return change('narrowed', 'all');
      case 'RequesterUnbanned':
        return change('widened', 'all');
      default:
    }
  }

  private patientsGranting(team: string): string[] {
    return [...this.grantees].filter(([, s]) => s.has(team)).map(([p]) => p);
  }

  /** Patients that `clinician` was ever granted (directly or through its teams) or broke the glass for. */
  async patientsOf(clinician: string): Promise<string[]> {
    const via = new Set([clinician, ...(await this.c.registry.careTeamsOf(clinician)).map((t) => getAddress(t))]);
    const out = new Set<string>();
    for (const [p, set] of this.grantees) for (const g of set) if (via.has(g)) out.add(p);
    for (const [p, m] of this.glass) if (m.has(clinician)) out.add(p);
    return [...out];
  }

  /** Whether the first scan since start has finished (until then, lists are partial). */
  get ready(): boolean {
    return this.caughtUp;
  }

  /** Clinicians who might be authorised for the patient: direct grantees, members of granted teams, break-glass. */
  async candidates(patient: string): Promise<string[]> {
    const out = new Set<string>();
    const reg = this.c.registry;
    for (const g of this.grantees.get(patient) ?? []) {
      if (await reg.isCareTeam(g)) for (const m of await reg.careTeamMembers(g)) out.add(getAddress(m));
      else out.add(g);
    }
    for (const c of this.glass.get(patient)?.keys() ?? []) out.add(c);
    return [...out];
  }

  /** The windows through which `clinician` may see `patient` now, from the chain's state. */
  async windows(patient: string, clinician: string): Promise<AccessWindow[]> {
    return (await this.windowsOfPatients([patient], clinician))[0]!;
  }

  /**
   * `windows` for each of `patients`, in order: one Consent.accessOf call per ACCESS_OF_PATIENTS
   * patients (a patients view of 100 patients was 300 calls, queued behind each other at the node).
   * A Consent deployed before accessOf existed is asked patient by patient instead (said once).
   */
  async windowsOfPatients(patients: readonly string[], clinician: string): Promise<AccessWindow[][]> {
    const chunks: string[][] = [];
    for (let i = 0; i < patients.length; i += ACCESS_OF_PATIENTS) chunks.push(patients.slice(i, i + ACCESS_OF_PATIENTS));
    const now = BigInt(Math.floor(Date.now() / 1000));
    const answers = await Promise.all(chunks.map((c) => this.accessOf(c, clinician)));
    return answers.flatMap((a, k) => chunks[k]!.map((patient, i) => {
      const out: AccessWindow[] = [];
      // As Consent.canAccess: a banned account, or one without the clinician role, sees nothing.
      if (a.banned || !a.isClinician) return out;
      const per = 1 + a.teams.length;
      const add = (g: GrantFields, via: AccessWindow['via'], grantee: string) => {
        if (g.expiry > now && Number(g.streams) !== 0) out.push({ streams: Number(g.streams), fromMs: Number(g.dataFrom), untilMs: Number(g.dataUntil), expiresAt: Number(g.expiry), via, grantee });
      };
      add(a.grants[i * per]!, 'grant', clinician);
      a.teams.forEach((team, j) => add(a.grants[i * per + 1 + j]!, 'care-team', getAddress(team)));
      // The session's start is the BreakGlass event's block time, which only the follower knows.
      const glassStarted = this.glass.get(patient)?.get(clinician);
      const until = Number(a.breakGlass[i]);
      if (glassStarted !== undefined && until > Number(now)) out.push({ streams: ALL, fromMs: glassStarted * 1000, untilMs: until * 1000, expiresAt: until, via: 'break-glass', grantee: clinician });
      return out;
    }));
  }

  /** Consent.accessOf, or the same answer from the one-question views on a Consent without it. */
  private async accessOf(patients: string[], clinician: string): Promise<AccessAnswer> {
    if (await this.consentHasAccessOf()) {
      const [isClinician, banned, teams, grants, breakGlass] = await this.c.consent.accessOf(patients, clinician);
      return { isClinician, banned, teams, grants, breakGlass };
    }
    return this.accessOfOneByOne(patients, clinician);
  }

  /**
   * Whether the deployed Consent has accessOf, read once from its code (its dispatcher pushes each
   * selector: PUSH4 = 0x63). From the code rather than from a failed call: a node's timeout or
   * gas error on eth_call looks just like a missing function.
   */
  private consentHasAccessOf(): Promise<boolean> {
    this.hasAccessOf ??= (async () => {
      const code = await this.c.consent.runner!.provider!.getCode(this.deployment.contracts.Consent);
      const selector = this.c.consent.interface.getFunction('accessOf')!.selector.slice(2);
      const has = code.toLowerCase().includes(`63${selector}`);
      if (!has) this.log?.warn({ consent: this.deployment.contracts.Consent }, 'this Consent contract has no accessOf (deployed by an older Vitalgate): access is read patient by patient; deploy the current contracts for one call per patients view');
      return has;
    })();
    // A failed read is asked again next time, not remembered.
    this.hasAccessOf.catch(() => { this.hasAccessOf = undefined; });
    return this.hasAccessOf;
  }

  /** accessOf's answer from isClinician, isBanned, careTeamsOf, grantOf and breakGlassUntil. */
  private async accessOfOneByOne(patients: readonly string[], clinician: string): Promise<AccessAnswer> {
    const { consent, registry } = this.c;
    const [isClinician, banned, teams] = await Promise.all([registry.isClinician(clinician), registry.isBanned(clinician), registry.careTeamsOf(clinician)]);
    const perPatient = await Promise.all(patients.map((p) => Promise.all([
      Promise.all([clinician, ...teams].map((g) => consent.grantOf(p, g))), consent.breakGlassUntil(p, clinician),
    ])));
    return { isClinician, banned, teams, grants: perPatient.flatMap(([g]) => g), breakGlass: perPatient.map(([, b]) => b) };
  }

  canAccess(clinician: string, patient: string, streamId: number, tMs: number): Promise<boolean> {
    return this.c.consent.canAccess(clinician, patient, streamId, tMs);
  }

  async encryptionKeyOf(clinician: string): Promise<Uint8Array> {
    const hex = await this.c.registry.encryptionKeyOf(clinician);
    return Uint8Array.from(Buffer.from(hex.slice(2), 'hex'));
  }
}
