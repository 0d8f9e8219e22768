/**
 * What a clinician may see, asked of the chain for every request. The answer (the windows a
 * clinician holds on a patient: own grant, care teams' grants, break-glass) is cached for a few
 * seconds, and dropped the moment the chain follower reads an event that narrows access (a revoke,
 * a member leaving a team, break-glass ended, a ban), so a revocation reaches the API within one
 * poll of the chain. If the chain cannot be read, nothing is allowed: 503, never a guess.
 */
import type { AccessFollower, AccessWindow } from '@vitalgate/contracts';
import { STREAMS, type StreamName } from '@vitalgate/protocol';

export type { AccessWindow };

/** What the clinician API needs to decide; AccessFollower-backed in production. */
export interface ClinicianAccess {
  /** The windows `clinician` holds on `patient` now (none when banned or without access). */
  windows(clinician: string, patient: string): Promise<AccessWindow[]>;
  /** `windows` for each of `patients`, in order, asked of the chain together (a patients view). */
  windowsOfPatients(clinician: string, patients: readonly string[]): Promise<AccessWindow[][]>;
  /** Patients the clinician was ever given access to (check `windows` for now). */
  patientsOf(clinician: string): Promise<string[]>;
  isBanned(clinician: string): Promise<boolean>;
  isClinician(account: string): Promise<boolean>;
  /**
   * The clinician has just signed in: ask the chain about their patients now, so that the first
   * view (the dashboard asks for every patient's latest values next) finds the answers cached or
   * on their way. Never fails; optional.
   */
  warm?(clinician: string): void;
}

/** The window through which (stream, [fromMs, toMs]) may be read at `nowS`, if any. */
export function allowingWindow(windows: readonly AccessWindow[], stream: StreamName, fromMs: number, toMs: number, nowS = Date.now() / 1000): AccessWindow | undefined {
  const bit = 1 << STREAMS[stream].id;
  return windows.find((w) => (w.streams & bit) !== 0 && w.expiresAt > nowS
    // Break-glass opens the whole record while it lasts, as Consent.canAccess does.
    && (w.via === 'break-glass' || (w.fromMs <= toMs && fromMs <= w.untilMs)));
}

/**
 * The window that lets a clinician have this batch. Readings: any overlap, as the chain's
 * canAccess answers for a range (the client trims to the window). A summary: its whole period must
 * lie inside the window, since its min, max and mean are of every reading in the period and cannot
 * be trimmed; break-glass opens everything while it lasts.
 */
export function servingWindow(windows: readonly AccessWindow[], b: { stream: StreamName; firstTs: number; lastTs: number; kind?: string }, nowS = Date.now() / 1000): AccessWindow | undefined {
  const w = allowingWindow(windows, b.stream, b.firstTs, b.lastTs, nowS);
  if (!w || !b.kind || b.kind === 'readings' || w.via === 'break-glass') return w;
  const bit = 1 << STREAMS[b.stream].id;
  return windows.find((x) => (x.streams & bit) !== 0 && x.expiresAt > nowS && (x.via === 'break-glass' || (x.fromMs <= b.firstTs && b.lastTs <= x.untilMs)));
}

export const DEFAULT_ACCESS_CACHE_MS = 5_000;

export class ChainClinicianAccess implements ClinicianAccess {
  /** Answers, and questions still on their way (so a request and a warm-up never ask twice). */
  private readonly cache = new Map<string, { at: number; windows: Promise<AccessWindow[]> }>();
  private generation = 0;

  constructor(private readonly follower: AccessFollower, private readonly registry: { isBanned(a: string): Promise<boolean>; isClinician(a: string): Promise<boolean> }, private readonly ttlMs = DEFAULT_ACCESS_CACHE_MS) {
    const previous = follower.onChange;
    follower.onChange = (c) => {
      previous?.(c);
      this.generation++;
      // Narrowing drops every cached answer at once: revocations are rare, and a stale allow is the one error we must not make.
      if (c.kind === 'narrowed' || c.patients === 'all') this.cache.clear();
      else for (const p of c.patients) for (const k of this.cache.keys()) if (k.endsWith(`|${p}`)) this.cache.delete(k);
    };
  }

  windows(clinician: string, patient: string): Promise<AccessWindow[]> {
    return this.windowsOfPatients(clinician, [patient]).then((w) => w[0]!);
  }

  /** Cached answers as they are; the rest asked of the chain in one question (Consent.accessOf). */
  windowsOfPatients(clinician: string, patients: readonly string[]): Promise<AccessWindow[][]> {
    if (!this.follower.ready) return Promise.reject(new Error('the chain\'s access events are still being read (starting up, or the chain is unreachable)'));
    const now = Date.now();
    const missing = [...new Set(patients.filter((p) => {
      const hit = this.cache.get(`${clinician}|${p}`);
      return !hit || now - hit.at >= this.ttlMs;
    }))];
    // Asked now: answered from the question itself, not the cache (an event meanwhile may drop the entries).
    const asked = new Map<string, Promise<AccessWindow[]>>();
    if (missing.length) {
      const generation = this.generation;
      const answer = this.follower.windowsOfPatients(missing, clinician);
      missing.forEach((p, i) => {
        const k = `${clinician}|${p}`;
        const entry = { at: now, windows: answer.then((all) => all[i]!) };
        asked.set(p, entry.windows);
        // Kept only if no access event arrived since the question was asked: an answer read before a
        // revocation must not outlive it. A failure is never kept.
        if (generation === this.generation) this.cache.set(k, entry);
        entry.windows.then(() => {
          if (generation !== this.generation && this.cache.get(k) === entry) this.cache.delete(k);
        }, () => {
          if (this.cache.get(k) === entry) this.cache.delete(k);
        });
      });
    }
    return Promise.all(patients.map((p) => asked.get(p) ?? this.cache.get(`${clinician}|${p}`)!.windows));
  }

  warm(clinician: string): void {
    if (!this.follower.ready) return;
    void (async () => {
      await this.windowsOfPatients(clinician, await this.follower.patientsOf(clinician));
    })().catch(() => undefined);
  }

  patientsOf(clinician: string): Promise<string[]> {
    if (!this.follower.ready) return Promise.reject(new Error('the chain\'s access events are still being read (starting up, or the chain is unreachable)'));
    return this.follower.patientsOf(clinician);
  }

  isBanned(clinician: string): Promise<boolean> {
    return this.registry.isBanned(clinician);
  }

  isClinician(account: string): Promise<boolean> {
    return this.registry.isClinician(account);
  }
}
