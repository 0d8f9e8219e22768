/**
 * Key envelopes: for each (patient, stream, epoch) this gateway sealed data under, and each
 * clinician the chain authorises for some of that data, the epoch key encrypted to the clinician's
 * registered key (protocol/src/key-envelope.ts). Granularity: one envelope opens a whole
 * (patient, stream, epoch). It is issued when the data sealed under it (its readings' time range)
 * overlaps a window the clinician holds, and `canAccess` on chain, asked at that moment, agrees.
 *
 * - New data: the first batch of a (patient, stream, epoch) makes its envelopes due.
 * - A grant, a new care-team member or break-glass: envelopes due over every past epoch (back-fill).
 * - A revoke, a member removed, break-glass ended or a ban: the gateway starts a new epoch at once
 *   (onNarrowed), and the next envelopes are decided on the chain's state after the event, so the
 *   party who lost access gets no key to anything sealed from then on.
 * - A chain outage: nothing is issued (fail closed); what is due is retried once it answers.
 *
 * Issued envelopes are appended durably to envelopes.jsonl (they hold no secret: only the grantee
 * can open them) and queued for upload; the log also makes issuing idempotent across restarts.
 */
import { bytesToHex } from '@noble/hashes/utils.js';
import type { Logger } from 'pino';
import { EnvelopeSealer, envelopeRecipientKey, STREAMS, type StreamName } from '@vitalgate/protocol';
import { AppendLog } from '@vitalgate/protocol/durable';
import type { BatchRecord } from '../store/batch-index.js';
import type { AccessFollower, AccessWindow } from '@vitalgate/contracts';

export interface EnvelopeRecord {
  patientId: string;
  patientAccount: string;
  grantee: string;
  stream: StreamName;
  epoch: number;
  /** The envelope, hex: public (only the grantee can open it). */
  envelope: string;
  via: AccessWindow['via'];
  at: number;
}

/** What the issuer needs from the gateway: accounts and epoch keys (derived, never stored). */
export interface EnvelopeKeys {
  patientAccount(patientId: string): Promise<string>;
  epochKey(patientId: string, stream: StreamName, epoch: number): Promise<Uint8Array>;
}

export const envelopeUploadKey = (r: Pick<EnvelopeRecord, 'grantee' | 'patientAccount' | 'stream' | 'epoch'>): string =>
  `envelope:${r.grantee}:${r.patientAccount}:${r.stream}:${r.epoch}`;

const POLICY_TTL_MS = 30_000;

interface Range { patientId: string; stream: StreamName; epoch: number; fromMs: number; untilMs: number }

export interface EnvelopeIssuerStatus { issued: number; due: number; lastError?: string }

export class EnvelopeIssuer {
  private readonly ranges = new Map<string, Range>();
  private readonly issued = new Set<string>();
  private readonly dirty = new Set<string>();
  private readonly accounts = new Map<string, string>();
  private readonly warnedKeys = new Set<string>();
  /**
   * Who may see each patient account, and through which windows, as read from the chain. Dropped
   * when an event touches the patient, and after POLICY_TTL_MS (grants expire without an event).
   * Only ever a shortlist: canAccess is asked again before each envelope.
   */
  private generation = 0;
  private readonly policies = new Map<string, { at: number; list: Array<{ clinician: string; windows: AccessWindow[] }> }>();
  private running: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private retryAt = 0;
  private lastError: string | undefined;
  private count = 0;
  /**
   * One ephemeral key per clinician per day (protocol/src/key-envelope.ts, EnvelopeSealer): a
   * browser opening a week of a patient's 15-minute epochs does about 7 ECDHs, not 1344 per stream.
   */
  private readonly sealer = new EnvelopeSealer();
  /** Called with each envelope once it is durable (the upload spool queues it). */
  onIssued: ((rec: EnvelopeRecord) => void) | undefined;
  /** Called when access to one of this gateway's patients narrowed: the gateway rotates its epoch. */
  onNarrowed: ((event: string) => void) | undefined;

  private constructor(private readonly log: AppendLog<EnvelopeRecord>, private readonly watch: AccessFollower, private readonly keys: EnvelopeKeys, private readonly logger?: Logger) {}

  /** Opens envelopes.jsonl; `indexed` (the index at start) gives the data each past epoch holds. */
  static async open(path: string, indexed: readonly BatchRecord[], watch: AccessFollower, keys: EnvelopeKeys, logger?: Logger): Promise<{ issuer: EnvelopeIssuer; issued: EnvelopeRecord[] }> {
    const { log, entries, tornBytes } = await AppendLog.open<EnvelopeRecord>(path);
    if (tornBytes) logger?.warn({ tornBytes }, 'envelope log: cut off a torn last record (that envelope is issued again)');
    const issuer = new EnvelopeIssuer(log, watch, keys, logger);
    for (const e of entries) issuer.issued.add(envelopeUploadKey(e.value));
    issuer.noteSealed(indexed);
    watch.onChange = (c) => {
      issuer.generation++;
      if (c.patients === 'all') issuer.policies.clear();
      else for (const a of c.patients) issuer.policies.delete(a);
      const patients = c.patients === 'all' ? [...issuer.patientIds()] : c.patients.flatMap((a) => issuer.patientIdsOf(a));
      if (c.kind === 'narrowed' && !c.catchUp && (c.patients === 'all' || patients.length)) {
        issuer.logger?.info({ event: c.event }, 'access narrowed on chain: starting a new epoch');
        issuer.onNarrowed?.(c.event);
      }
      for (const p of patients) issuer.dirty.add(p);
      issuer.kick();
    };
    return { issuer, issued: entries.map((e) => e.value) };
  }

  private *patientIds(): Iterable<string> {
    for (const r of this.ranges.values()) yield r.patientId;
  }

  private patientIdsOf(account: string): string[] {
    return [...this.accounts].filter(([, a]) => a === account).map(([p]) => p);
  }

  /** Newly durable batches: their (patient, stream, epoch) data ranges grow, and envelopes may be due. */
  noteSealed(records: readonly BatchRecord[]): void {
    for (const r of records) {
      const k = `${r.patientId}|${r.stream}|${r.epoch}`;
      const cur = this.ranges.get(k);
      if (!cur) {
        this.ranges.set(k, { patientId: r.patientId, stream: r.stream, epoch: r.epoch, fromMs: r.firstTs, untilMs: r.lastTs });
        this.dirty.add(r.patientId);
      } else if (r.firstTs < cur.fromMs || r.lastTs > cur.untilMs) {
        cur.fromMs = Math.min(cur.fromMs, r.firstTs);
        cur.untilMs = Math.max(cur.untilMs, r.lastTs);
        this.dirty.add(r.patientId);
      }
    }
    this.kick();
  }

  start(intervalMs = 1000): void {
    this.timer = setInterval(() => this.kick(), intervalMs);
    this.dirty.clear();
    for (const r of this.ranges.values()) this.dirty.add(r.patientId);
    this.kick();
  }

  status(): EnvelopeIssuerStatus {
    return { issued: this.count, due: this.dirty.size, ...(this.lastError && { lastError: this.lastError }) };
  }

  /** Resolves once everything due now has been decided (or failed, to be retried). */
  async settle(): Promise<void> {
    while (this.running) await this.running;
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await this.settle();
    this.sealer.clear();
    await this.log.close();
  }

  private kick(): void {
    if (this.running || this.dirty.size === 0 || Date.now() < this.retryAt) return;
    this.running = this.run().finally(() => { this.running = undefined; });
  }

  private async run(): Promise<void> {
    while (this.dirty.size) {
      const patientId = this.dirty.values().next().value!;
      this.dirty.delete(patientId);
      try {
        await this.evaluate(patientId);
        this.lastError = undefined;
      } catch (e) {
        this.dirty.add(patientId);
        const msg = (e as Error).message.split('\n')[0]!.slice(0, 200);
        if (this.lastError !== msg) this.logger?.warn({ err: msg }, 'cannot decide key envelopes (chain unreachable?); none issued, retrying');
        this.lastError = msg;
        this.retryAt = Date.now() + 2000;
        return;
      }
    }
  }

  private async account(patientId: string): Promise<string> {
    let a = this.accounts.get(patientId);
    if (!a) {
      a = await this.keys.patientAccount(patientId);
      this.accounts.set(patientId, a);
    }
    return a;
  }

  private async policy(patient: string): Promise<Array<{ clinician: string; windows: AccessWindow[] }>> {
    const hit = this.policies.get(patient);
    if (hit && Date.now() - hit.at < POLICY_TTL_MS) return hit.list;
    const at = Date.now();
    const generation = this.generation;
    const list: Array<{ clinician: string; windows: AccessWindow[] }> = [];
    for (const clinician of await this.watch.candidates(patient)) {
      const windows = await this.watch.windows(patient, clinician);
      if (windows.length) list.push({ clinician, windows });
    }
    // An event that arrived while reading may have changed the answer: use it once, keep it not.
    if (generation === this.generation) this.policies.set(patient, { at, list });
    return list;
  }

  private async evaluate(patientId: string): Promise<void> {
    const patient = await this.account(patientId);
    const ranges = [...this.ranges.values()].filter((r) => r.patientId === patientId);
    for (const { clinician, windows } of await this.policy(patient)) {
      let recipient: Uint8Array | undefined;
      for (const r of ranges) {
        const uploadKey = envelopeUploadKey({ grantee: clinician, patientAccount: patient, stream: r.stream, epoch: r.epoch });
        if (this.issued.has(uploadKey)) continue;
        const bit = 1 << STREAMS[r.stream].id;
        const w = windows.find((x) => (x.streams & bit) !== 0 && x.fromMs <= r.untilMs && r.fromMs <= x.untilMs);
        if (!w) continue;
        // The chain has the last word, now: a window read a moment ago may have been revoked since.
        if (!(await this.watch.canAccess(clinician, patient, STREAMS[r.stream].id, Math.max(r.fromMs, w.fromMs)))) continue;
        if (!recipient) {
          const k = envelopeRecipientKey(await this.watch.encryptionKeyOf(clinician));
          if (!k.ok) {
            if (!this.warnedKeys.has(clinician)) this.logger?.warn({ clinician, reason: k.reason }, 'a clinician granted access has no usable encryption key; no envelope for it until it registers one');
            this.warnedKeys.add(clinician);
            break;
          }
          recipient = k.value;
        }
        const dk = await this.keys.epochKey(patientId, r.stream, r.epoch);
        const envelope = this.sealer.seal(recipient, dk, { patientId, stream: r.stream, epoch: r.epoch });
        dk.fill(0);
        const rec: EnvelopeRecord = { patientId, patientAccount: patient, grantee: clinician, stream: r.stream, epoch: r.epoch, envelope: bytesToHex(envelope), via: w.via, at: Date.now() };
        await this.log.append([rec]);
        this.issued.add(uploadKey);
        this.count++;
        if (w.via === 'break-glass') this.logger?.warn({ patientId, clinician, stream: r.stream, epoch: r.epoch }, 'key envelope issued under BREAK-GLASS');
        else this.logger?.debug({ patientId, clinician, stream: r.stream, epoch: r.epoch, via: w.via }, 'key envelope issued');
        this.onIssued?.(rec);
      }
    }
  }
}
