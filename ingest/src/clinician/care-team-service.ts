/**
 * Everything the care-team side of ingest runs beside its HTTP routes, started together so that
 * `vitalgate ingest` and the embedded ingest of `vitalgate start` wire it the same way:
 * the chain follower behind every access decision, the access log, and, when given the auditor's
 * key, the denial reporter (bans) and the access-log anchorer.
 *
 * The auditor's transactions (denial reports, anchors) go through one queue: two senders on one
 * account would race for its nonce.
 */
import type { JsonRpcProvider, Wallet } from 'ethers';
import { AccessFollower, connectContracts, type Deployment } from '@vitalgate/contracts';
import type { IngestOptions } from '../server.js';
import type { ReplayCache } from '../replay-cache.js';
import type { ObjectStore } from '../storage/object-store.js';
import { AccessLogAnchorer, AnchorRecords, DEFAULT_ACCESS_LOG_ANCHOR_MS } from './access-log-anchor.js';
import { StoredAccessLog } from './access-log.js';
import { ChainClinicianAccess } from './clinician-access.js';
import { DEFAULT_DENIAL_REPORT_MS, DenialReporter } from './denial-reporter.js';
import { SessionKeys } from './session.js';
import type { SiweOptions } from './siwe-signin.js';

export interface CareTeamServiceLogger {
  info(o: object, msg: string): void;
  warn(o: object, msg: string): void;
}

export interface CareTeamServiceOptions {
  deployment: Deployment;
  provider: JsonRpcProvider;
  store: ObjectStore;
  /** Shared with the gateways' replay cache: used nonces and signed-out sessions. */
  replay: ReplayCache;
  /** At least 32 bytes, the same on every instance: it MACs nonces and session tokens. */
  sessionSecret: Uint8Array;
  siwe: SiweOptions;
  /** The auditor account (Registry.AUDITOR_ROLE), connected to the provider: reports denials and anchors the access log. */
  auditor?: Wallet;
  /** How often new chain events are read (default 500 ms: a revocation reaches the API within a second or two). */
  accessPollMs?: number;
  denialReportMs?: number;
  anchorPeriodMs?: number;
  /** How old an access-log entry must be before it is anchored (default 10 s: writes still in flight). */
  anchorSettleMs?: number;
  /** How long a session lasts (default 15 min). */
  sessionSeconds?: number;
  logger?: CareTeamServiceLogger;
}

export interface CareTeamService {
  /** Pass as `buildIngest({ clinicians })`. */
  clinicians: NonNullable<IngestOptions['clinicians']>;
  follower: AccessFollower;
  denials?: DenialReporter;
  anchorer?: AccessLogAnchorer;
  stop(): Promise<void>;
}

/** One at a time, in order: each call starts when the previous one has settled. */
function serialised(): <T>(f: () => Promise<T>) => Promise<T> {
  let tail: Promise<unknown> = Promise.resolve();
  return <T>(f: () => Promise<T>): Promise<T> => {
    const run = tail.then(f, f);
    tail = run.catch(() => undefined);
    return run;
  };
}

export async function startCareTeamService(o: CareTeamServiceOptions): Promise<CareTeamService> {
  const readOnly = connectContracts(o.deployment, o.provider);
  const follower = new AccessFollower(readOnly, o.deployment, o.logger);
  const access = new ChainClinicianAccess(follower, readOnly.registry);
  const anchors = new AnchorRecords(o.store);
  let denials: DenialReporter | undefined;
  let anchorer: AccessLogAnchorer | undefined;
  if (o.auditor) {
    const role = await readOnly.registry.AUDITOR_ROLE();
    if (!(await readOnly.registry.hasRole(role, o.auditor.address))) {
      throw new Error(`the auditor account ${o.auditor.address} does not hold Registry.AUDITOR_ROLE: an admin grants it (Registry.grantRole(AUDITOR_ROLE, ${o.auditor.address})), or start without the auditor key (no bans, no anchored access log)`);
    }
    const c = connectContracts(o.deployment, o.auditor);
    const inTurn = serialised();
    denials = new DenialReporter({ reportDenied: (r, n) => inTurn(() => c.registry.reportDenied(r, n)) }, o.logger);
    anchorer = new AccessLogAnchorer({
      store: o.store, auditor: o.auditor.address, records: anchors,
      periodMs: o.anchorPeriodMs ?? DEFAULT_ACCESS_LOG_ANCHOR_MS,
      ...(o.anchorSettleMs !== undefined && { settleMs: o.anchorSettleMs }),
      auditLog: {
        anchorAccessLog: (root, count, firstTs, lastTs, uri) => inTurn(() => c.auditLog.anchorAccessLog(root, count, firstTs, lastTs, uri)),
        isRecorded: (auditor, root) => readOnly.auditLog.isRecorded(auditor, root),
      },
      ...(o.logger && { log: o.logger }),
    });
    denials.start(o.denialReportMs ?? DEFAULT_DENIAL_REPORT_MS);
    anchorer.start();
  } else {
    o.logger?.warn({}, 'no auditor key: denied requests are refused and logged but not reported to the Registry (no bans), and the access log is not anchored on chain');
  }
  follower.start(o.accessPollMs ?? 500);
  const d = denials;
  return {
    follower,
    ...(denials && { denials }),
    ...(anchorer && { anchorer }),
    clinicians: {
      sessions: new SessionKeys(o.sessionSecret, o.replay, o.sessionSeconds),
      siwe: o.siwe,
      access,
      accessLog: new StoredAccessLog(o.store),
      anchors,
      auditor: o.auditor?.address ?? null,
      ...(d && { onDenied: (clinician: string) => d.record(clinician) }),
    },
    async stop() {
      await follower.stop();
      await anchorer?.stop();
      await denials?.stop();
    },
  };
}
