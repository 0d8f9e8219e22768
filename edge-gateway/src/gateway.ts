/**
 * The patient-side pipeline: readings in (MQTT or any other source), validated, de-duplicated,
 * batched, sealed under the epoch key, written durably, indexed.
 *
 * This file is the composition root: it wires the stages, each in its folder: intake/ (MQTT, the
 * serial and BLE sources, the acknowledgement policy), batching/, sealing/, summaries/, store/,
 * keys/, anchoring/, envelopes/ and upload/.
 *
 * Sealing never blocks intake: messages are only parsed and queued on arrival; a timer closes due
 * batches and commits them as a group (one fsync per file, one per directory, one for the index).
 * A flush that fails puts its batches back and is retried, so a full disk delays data but loses none.
 *
 * Every message taken in gets an intake number. `durableBefore()` says below which number every
 * message is durable or dealt with; the MQTT intake (intake/mqtt-intake.ts) acknowledges by it.
 * The commit point of a batch is its index record: a pack written just before a crash is adopted
 * into the index at the next start, and the index's reading sequence numbers rebuild
 * de-duplication, so readings the broker redelivers after a crash are not sealed twice.
 */
import { EventEmitter } from 'node:events';
import pMap from 'p-map';
import pino, { type Logger } from 'pino';
import {
  redactUrl, deriveEpochKey, parseDeviceStatus, parseReadingTopic, patientFilter, decodePayload, sampleCount,
  TOPIC_ROOT, type DeviceStatusReport, type EpochRecord, type ReadingBody, type StreamName, DEFAULT_EPOCH_PERIOD_MS, LatencyHistogram, type LatencySummary,
} from '@vitalgate/protocol';
import type { BleSource, BleSourceStatus, SerialSource, SerialSourceStatus } from '@vitalgate/firmware-bridge';
import { ensureDir, writeFileAtomic } from '@vitalgate/protocol/durable';
import { installNativeBatchCipher } from '@vitalgate/protocol/native';
import { adoptUncommitted } from './store/adopt-uncommitted.js';
import { Anchorer, readAnchors, type AnchorerStatus } from './anchoring/anchorer.js';
import { AccessFollower } from '@vitalgate/contracts';
import { EnvelopeIssuer, type EnvelopeIssuerStatus } from './envelopes/envelope-issuer.js';
import { IngestSender } from './upload/ingest-sender.js';
import { Uploader, type UploaderStatus } from './upload/uploader.js';
import { BatchIndex, seqKey, type BatchRecord } from './store/batch-index.js';
import { Summarizer } from './summaries/summarizer.js';
import { recoverSummaries } from './summaries/recover.js';
import { ChainLink, type ChainOptions } from './anchoring/chain-link.js';
import { Batcher, type PendingBatch } from './batching/batcher.js';
import { dataDirLayout } from './store/data-dir.js';
import { EpochClock } from './keys/epoch-clock.js';
import { Keystore, type ScryptParams } from './keys/keystore.js';
import { LogThrottle } from './log-throttle.js';
import { PackStore } from './store/pack-store.js';
import { SeqWindows } from './batching/seq-window.js';
import { DataDirLock } from './store/data-dir-lock.js';
import { MqttIntake, type MqttIntakeStatus } from './intake/mqtt-intake.js';
import { LocalIntake } from './intake/local-intake.js';
import type { AckPolicy } from './intake/ack-policy.js';
import { startBleSources, startSerialSources, type BleSourceConfig, type SerialSourceConfig } from './intake/device-sources.js';
import { sealDueSummary, sealReadings, type Unstored } from './sealing/seal.js';

export interface GatewayOptions {
  dataDir: string;
  passphrase: string;
  /** MQTT broker to subscribe to; omit to feed readings only through accept*(). */
  brokerUrl?: string;
  mqttUsername?: string;
  mqttPassword?: string;
  /**
   * For mqtts:// and wss:// brokers: the CA that signed the broker's certificate (PEM), and a
   * client certificate and key when the broker identifies gateways by certificate (CN = id).
   */
  mqttTls?: { ca?: Buffer; cert?: Buffer; key?: Buffer };
  /** Stable client id so the broker keeps this gateway's session (and queues QoS 1) across restarts. */
  clientId?: string;
  /**
   * When QoS 1 readings are acknowledged: 'durable' (default) once their batch is on disk, so a
   * crash loses nothing acknowledged; 'arrival' on receipt, which a crash can lose a batch window of
   * (kept only to measure what 'durable' costs).
   */
  ackPolicy?: AckPolicy;
  /** Most QoS 1 messages held unacknowledged before intake waits for a flush (default 50,000). */
  maxUnacked?: number;
  /** Written into the data directory's lock, for the error another writer gets (default 'gateway'). */
  lockPurpose?: string;
  /** Serial ports with UART firmware devices on them (one patient per port). */
  serial?: SerialSourceConfig[];
  /**
   * BLE health devices, all worn by `patientId`: `radio: 'noble'` for a real Bluetooth adapter, or
   * a ble-sim://host:port address for the simulator's BLE-sim hub. `devices` lists the addresses
   * of the patient's own peripherals; a real radio hears every strap in range, so it is required
   * for 'noble'.
   */
  ble?: BleSourceConfig[];
  /** Anchor batch roots on this chain (omit for no anchoring). */
  chain?: ChainOptions & {
    anchorPeriodMs?: number;
    /** How often the Consent and Registry logs are read for grants, revokes and bans (default 1 s). */
    accessPollMs?: number;
  };
  /** Upload every durable batch to this ingest service (needs `chain`: requests are signed with the gateway's account). */
  ingest?: {
    url: string;
    concurrency?: number;
    /** How long `stop` keeps uploading what waits (default 10 s; the rest goes after the next start). */
    stopTimeoutMs?: number;
    /** Ciphertext waiting for upload above which the spool raises its alarm (default 10 GiB). */
    quotaBytes?: number;
  };
  /** Patients whose readings this gateway takes; default every patient. */
  patients?: string[];
  batchWindowMs?: number;
  maxBatchSamples?: number;
  /**
   * Seal per-minute and per-hour summaries beside the readings (default true), so a chart of days
   * loads in one request per stream instead of every reading.
   */
  summaries?: boolean;
  epochPeriodMs?: number;
  scrypt?: ScryptParams;
  logger?: Logger;
}

export interface GatewayMetrics {
  messagesReceived: number;
  readingsAccepted: number;
  samplesAccepted: number;
  rejected: number;
  rejectedByReason: Record<string, number>;
  duplicates: number;
  seqRestarts: number;
  /** Readings far older than the de-duplication window (a long backlog replayed), taken as new. */
  lateReadings: number;
  statusMessages: number;
  /** Status reports that were not a valid report (counted, not sealed). */
  statusRejected: number;
  pendingReadings: number;
  batchesSealed: number;
  readingsSealed: number;
  /** Summary batches sealed (batchesSealed counts readings batches only). */
  summariesSealed: number;
  /** Summary periods still open (not yet sealed), when summaries are on. */
  summariesOpen?: { minutes: number; hours: number };
  bytesStored: number;
  flushErrors: number;
  patientsEnrolled: number;
  flushes: number;
  /** The most any batch waited past its window before being sealed, ms: how far flushing lags. */
  maxOverdueMs: number;
  lastFlush?: { batches: number; sealMs: number; storeMs: number; indexMs: number; overdueMs: number };
  epoch: number;
  epochStartedAt: number;
  serial: SerialSourceStatus[];
  ble: BleSourceStatus[];
  mqtt?: MqttIntakeStatus;
  anchoring?: AnchorerStatus;
  upload?: UploaderStatus;
  /** Key envelopes issued to clinicians the chain authorises (with a chain). */
  envelopes?: EnvelopeIssuerStatus;
  /** Batches found in the store but not in the index at start (a crash between the two), adopted. */
  adoptedAtStart: number;
}

export interface GatewayEvents {
  sealed: [records: BatchRecord[]];
  rejected: [info: { topic: string; reason: string }];
  epoch: [rec: EpochRecord];
  /** A flush ended without error: durableBefore() may have moved. */
  durable: [];
  /** Ingest confirmed it stores these batches (with `ingest`). */
  uploaded: [ids: string[]];
}

export const DEFAULT_BATCH_WINDOW_MS = 2000;
export const DEFAULT_MAX_BATCH_SAMPLES = 5000;
export const DEFAULT_ANCHOR_PERIOD_MS = 30_000;

/** Reasons are grouped by their first words so metrics have a bounded set of labels. */
function reasonClass(reason: string): string {
  return reason.replace(/["'].*$/, '').replace(/[0-9].*$/, '').trim().split(/[:(]/)[0]!.trim().slice(0, 48);
}

export class Gateway extends EventEmitter<GatewayEvents> {
  readonly log: Logger;
  private readonly batcher: Batcher;
  private readonly seqs = new SeqWindows();
  private readonly keyCache = new Map<string, Uint8Array>();
  private readonly seenPatients = new Set<string>();
  readonly throttle: LogThrottle;
  private readonly allowed: Set<string> | undefined;
  /** Where MQTT readings come from, subscribed over MQTT or handed over by a broker in this process (at most one). */
  private mqttIn: MqttIntake | LocalIntake | undefined;
  /** Number the next message taken in will get. */
  private intake = 0;
  /** Batches taken by the flush under way and not yet committed. */
  private inFlight: PendingBatch[] = [];
  private adopted = 0;
  private lock: DataDirLock | undefined;
  private readonly serialSources: SerialSource[] = [];
  private readonly bleSources: BleSource[] = [];
  private anchorer: Anchorer | undefined;
  private uploader: Uploader | undefined;
  private access: AccessFollower | undefined;
  private envelopes: EnvelopeIssuer | undefined;
  chainLink: ChainLink | undefined;
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> | undefined;
  private unstored: Unstored[] = [];
  private readonly summarizer: Summarizer | undefined;
  private stopped = false;
  /** Per reading: from the gateway taking it in to its batch being durable (the gateway's own stage). */
  private readonly receiveToDurable = new LatencyHistogram(120_000);
  private readonly m: Omit<GatewayMetrics, 'pendingReadings' | 'epoch' | 'epochStartedAt' | 'serial' | 'ble' | 'mqtt' | 'anchoring' | 'adoptedAtStart' | 'summariesOpen'> = {
    messagesReceived: 0, readingsAccepted: 0, samplesAccepted: 0, rejected: 0, rejectedByReason: {},
    duplicates: 0, seqRestarts: 0, lateReadings: 0, statusMessages: 0, statusRejected: 0, batchesSealed: 0, readingsSealed: 0, summariesSealed: 0, bytesStored: 0,
    flushErrors: 0, patientsEnrolled: 0, flushes: 0, maxOverdueMs: 0,
  };

  private constructor(
    readonly opts: GatewayOptions,
    readonly keystore: Keystore,
    readonly store: PackStore,
    readonly index: BatchIndex,
    readonly epochs: EpochClock,
    logger: Logger,
  ) {
    super();
    this.log = logger;
    this.throttle = new LogThrottle(logger);
    this.allowed = opts.patients ? new Set(opts.patients) : undefined;
    this.batcher = new Batcher({
      windowMs: opts.batchWindowMs ?? DEFAULT_BATCH_WINDOW_MS,
      maxSamples: opts.maxBatchSamples ?? DEFAULT_MAX_BATCH_SAMPLES,
    });
    // A minute's last readings are still in a batch window when the minute ends.
    if (opts.summaries !== false) this.summarizer = new Summarizer(this.batcher.opts.windowMs + 1000);
  }

  static async start(opts: GatewayOptions): Promise<Gateway> {
    // OpenSSL's ChaCha20-Poly1305 under every batch this process seals: the same bytes as noble's; a
    // 2 s ECG batch seals 1.6× as fast, a 2 s HR batch 1.1× (`npm run bench`, sealing, side by side).
    installNativeBatchCipher();
    let loaded: BatchRecord[];
    const logger = opts.logger ?? pino({ name: 'gateway' }, pino.destination(2));
    const dirs = dataDirLayout(opts.dataDir);
    await ensureDir(dirs.root, 0o700);
    if (opts.ingest && !opts.chain) throw new Error('uploading to ingest needs the chain: requests are signed with the gateway\'s registered account, and ingest checks patients against the Registry');
    const lock = await DataDirLock.acquire(dirs.root, opts.lockPurpose ?? 'gateway');
    let gw: Gateway;
    try {
      const keystore = await Keystore.open(dirs.keys, opts.passphrase, opts.scrypt);
      const store = new PackStore(dirs.store);
      const { index, loaded: l, tornBytes, damagedLines } = await BatchIndex.open(dirs.index);
      loaded = l;
      if (tornBytes || damagedLines) logger.warn({ tornBytes, damagedLines }, 'index: cut off a torn last record and skipped damaged lines; their batches are adopted again from the store');
      const adopted = await adoptUncommitted(store, keystore, loaded, logger);
      if (adopted.length) {
        await index.append(adopted);
        logger.warn({ batches: adopted.length }, 'adopted batches that were stored but not indexed when the gateway last stopped');
      }
      loaded.push(...adopted);
      const usedUpTo = loaded.reduce((m, r) => Math.max(m, r.epoch), -1);
      const epochs = await EpochClock.open(dirs.epochs, opts.epochPeriodMs ?? DEFAULT_EPOCH_PERIOD_MS, Date.now(), usedUpTo);
      gw = new Gateway(opts, keystore, store, index, epochs, logger);
      gw.lock = lock;
      gw.adopted = adopted.length;
      gw.seqs.rebuild(loaded);
      if (gw.summarizer) {
        const r = await recoverSummaries(gw.summarizer, loaded, store, keystore);
        if (r.batches) logger.info(r, 'summaries: took back readings and minutes not yet summarised when the gateway last stopped');
      }
    } catch (e) {
      await lock.release();
      throw e;
    }
    const window = gw.batcher.opts.windowMs;
    // A batch waits at most one tick past its window, so the tick is a small share of the window.
    gw.timer = setInterval(() => void gw.flush(false), Math.max(10, Math.min(50, window / 10)));
    logger.info({ dataDir: opts.dataDir, epoch: gw.epochs.current.epoch, batches: gw.index.count }, 'gateway started');
    try {
      if (opts.chain) {
        gw.chainLink = await ChainLink.connect(opts.chain, gw.keystore, logger.child({ part: 'chain' }));
        // Public: lets `verify` (which holds no key) ask the chain for every root this gateway anchored.
        await writeFileAtomic(dirs.account, JSON.stringify({ address: gw.chainLink.address, chainId: gw.chainLink.deployment.chainId }) + '\n', { mode: 0o644, syncDir: true });
        gw.anchorer = await Anchorer.open(gw.chainLink, dirs.anchors, opts.chain.anchorPeriodMs ?? DEFAULT_ANCHOR_PERIOD_MS, loaded, logger.child({ part: 'anchor' }));
        gw.on('sealed', (recs) => gw.anchorer!.add(recs));
        const link = gw.chainLink;
        gw.access = new AccessFollower(link.contracts, link.deployment, logger.child({ part: 'access' }));
        const { issuer, issued } = await EnvelopeIssuer.open(dirs.envelopes, loaded, gw.access, {
          patientAccount: async (p) => (await link.patientWallet(p)).address,
          // Derived afresh, not from the sealing cache: back-fill reaches epochs long gone.
          epochKey: async (p, s, e) => deriveEpochKey((await gw.keystore.getOrEnroll(p)).pms, p, s, e),
        }, logger.child({ part: 'envelopes' }));
        gw.envelopes = issuer;
        issuer.onNarrowed = (event) => void gw.rotateEpoch().then(
          (rec) => logger.info({ epoch: rec.epoch, event }, 'new epoch after access was narrowed on chain: nothing sealed from now on opens with a revoked party\'s keys'),
          (e: Error) => logger.error({ err: e.message, event }, 'could not rotate the epoch after access was narrowed'),
        );
        gw.on('sealed', (recs) => issuer.noteSealed(recs));
        if (opts.ingest) {
          const mined = (await readAnchors(dirs.anchors, loaded)).flatMap((a) => a.mined ? [{ root: a.root, ids: a.ids, ...a.mined, at: 0 }] : []);
          gw.uploader = await Uploader.open(dirs.uploads, loaded, gw.store, new IngestSender(opts.ingest.url, gw.chainLink), {
            ...(opts.ingest.concurrency !== undefined && { concurrency: opts.ingest.concurrency }),
            ...(opts.ingest.quotaBytes !== undefined && { quotaBytes: opts.ingest.quotaBytes }),
            logger: logger.child({ part: 'upload' }),
            epochs: gw.epochs.history, anchors: mined, envelopes: issued,
          });
          issuer.onIssued = (rec) => gw.uploader?.addEnvelope(rec);
          gw.on('sealed', (recs) => gw.uploader!.add(recs));
          gw.uploader.onConfirmed = (ids) => gw.emit('uploaded', ids);
          gw.epochs.onRecord = (rec) => gw.uploader?.addEpoch(rec);
          // Before the anchorer starts, so no root mined from here on is missed.
          gw.anchorer.onMined = (a) => gw.uploader?.addAnchor(a);
          gw.uploader.start();
          logger.info({ ingest: redactUrl(opts.ingest.url), waiting: gw.uploader.status().waiting }, 'uploading to ingest');
        }
        gw.anchorer.start();
        gw.access.start(opts.chain.accessPollMs);
        issuer.start();
        logger.info({ chain: redactUrl(opts.chain.url), account: gw.chainLink.address }, 'anchoring on chain');
      }
      if (opts.brokerUrl) await gw.connect(opts.brokerUrl);
      await startSerialSources(opts.serial ?? [], gw, logger, gw.throttle, gw.serialSources);
      await startBleSources(opts.ble ?? [], gw, logger, gw.bleSources);
    } catch (e) {
      await gw.stop();
      throw e;
    }
    return gw;
  }

  private async connect(url: string): Promise<void> {
    const filters = this.opts.patients?.length ? this.opts.patients.map((p) => `${TOPIC_ROOT}/${p}/+/+`) : [patientFilter()];
    const intake = await MqttIntake.connect(this, {
      url,
      filters,
      clientOptions: {
        clientId: this.opts.clientId ?? `vitalgate-gateway-${process.pid}`,
        clean: this.opts.clientId === undefined,
        username: this.opts.mqttUsername,
        password: this.opts.mqttPassword,
        ...this.opts.mqttTls,
      },
      ackPolicy: this.opts.ackPolicy,
      maxUnacked: this.opts.maxUnacked,
      logger: this.log,
    });
    this.mqttIn = intake;
    this.on('durable', () => intake.release());
  }

  /**
   * Takes readings from a broker in this process instead of subscribing over MQTT (see
   * intake/local-intake.ts); the broker hands publishes to the returned intake. At most one.
   */
  openLocalIntake(maxUnacked?: number): LocalIntake {
    if (this.mqttIn) throw new Error('the gateway already has an MQTT intake');
    const local = new LocalIntake(this, maxUnacked);
    this.mqttIn = local;
    this.on('durable', () => local.release());
    return local;
  }

  private reject(topic: string, reason: string): void {
    this.m.rejected++;
    const cls = reasonClass(reason);
    this.m.rejectedByReason[cls] = (this.m.rejectedByReason[cls] ?? 0) + 1;
    this.throttle.warn(cls, { topic: topic.slice(0, 200), reason }, 'rejected message');
    this.emit('rejected', { topic, reason });
  }

  /**
   * One MQTT message in; returns its intake number. Never throws: bad input is counted, logged and
   * reported. A CBOR reading keeps `payload` (a view, not a copy) until its batch is sealed, so the
   * caller must not reuse that memory; MQTT clients and brokers hand over fresh buffers.
   */
  acceptMqtt(topic: string, payload: Uint8Array, now = Date.now()): number {
    const n = this.intake++;
    this.m.messagesReceived++;
    if (topic.endsWith('/cmd')) return n;
    if (topic.endsWith('/status')) {
      this.m.statusMessages++;
      this.takeStatus(topic, payload, now);
      return n;
    }
    const t = parseReadingTopic(topic);
    if (!t.ok) {
      this.reject(topic, t.reason);
      return n;
    }
    const p = decodePayload(t.value.stream, payload);
    if (!p.ok) {
      this.reject(topic, p.reason);
      return n;
    }
    // A CBOR payload is sealed as it came (decodePayload's strict decode and validation vouch for it).
    this.take(t.value.patientId, t.value.deviceId, t.value.stream, p.value.body, now, topic, n, p.value.encoding === 'cbor' ? payload : undefined);
    return n;
  }

  private takeStatus(topic: string, payload: Uint8Array, now: number): void {
    // vg/v1/{patient}/{device}/status
    const parts = topic.split('/');
    const report = parseDeviceStatus(payload);
    if (parts.length !== 5 || !report.ok) {
      this.m.statusRejected++;
      this.throttle.warn('status', { topic: topic.slice(0, 200), reason: report.ok ? 'not a status topic' : report.reason }, 'ignored status report');
      return;
    }
    this.acceptStatus(parts[2]!, parts[3]!, report.value, now);
  }

  /** A device's status report from any source; it goes into the device's minute summaries. */
  acceptStatus(patientId: string, deviceId: string, report: DeviceStatusReport, now = Date.now()): void {
    if (this.stopped || (this.allowed && !this.allowed.has(patientId))) return;
    this.summarizer?.addStatus(patientId, deviceId, report, now, this.epochs.current.epoch);
  }

  /** Every message numbered below this is durable (its batch indexed) or was dealt with. */
  durableBefore(): number {
    let m = this.batcher.minIntake(this.intake);
    for (const b of this.inFlight) if (b.firstIntake < m) m = b.firstIntake;
    for (const u of this.unstored) if (u.firstIntake < m) m = u.firstIntake;
    return m;
  }

  /**
   * A validated reading from any source (MQTT, serial, BLE); returns its intake number, so a caller
   * can tell by durableBefore() when it is durable (or dealt with).
   */
  acceptReading(patientId: string, deviceId: string, stream: StreamName, body: ReadingBody, now = Date.now(), origin = `${patientId}/${deviceId}/${stream}`): number {
    const n = this.intake++;
    this.take(patientId, deviceId, stream, body, now, origin, n);
    return n;
  }

  private take(patientId: string, deviceId: string, stream: StreamName, body: ReadingBody, now: number, origin: string, intake: number, asReceived?: Uint8Array): void {
    if (this.stopped) return this.reject(origin, 'gateway is stopping');
    if (this.allowed && !this.allowed.has(patientId)) return this.reject(origin, `patient ${patientId} is not served by this gateway`);
    const verdict = this.seqs.check(seqKey(patientId, stream, deviceId), body.seq, body.ts);
    if (verdict === 'duplicate') {
      this.m.duplicates++;
      return;
    }
    if (verdict === 'late') this.m.lateReadings++;
    if (verdict === 'restart') {
      this.m.seqRestarts++;
      this.log.warn({ patientId, deviceId, stream, seq: body.seq }, 'device sequence number restarted');
    }
    this.m.readingsAccepted++;
    this.m.samplesAccepted += sampleCount(stream, body);
    if (!this.seenPatients.has(patientId)) this.enrolInBackground(patientId);
    this.batcher.add(patientId, deviceId, stream, body, now, intake, asReceived);
  }

  /** Seals and stores due batches (or all pending ones). Concurrent calls share one flush. */
  flush(all = true): Promise<void> {
    if (this.flushing) {
      return all ? this.flushing.then(() => this.flush(true)) : this.flushing;
    }
    this.flushing = this.doFlush(all).finally(() => {
      this.flushing = undefined;
    });
    return this.flushing;
  }

  /**
   * A patient's secret is fetched (or made) as soon as their first reading arrives, so it is ready
   * when the batch falls due a window later instead of costing fsyncs inside the flush. A failure
   * here is only logged: the flush enrols again and keeps the batch until it succeeds.
   */
  private enrolInBackground(patientId: string): void {
    this.seenPatients.add(patientId);
    this.keystore.getOrEnroll(patientId).then(({ enrolled }) => {
      if (enrolled) this.noteEnrolled(patientId);
    }, (e: Error) => {
      this.seenPatients.delete(patientId);
      this.log.error({ patientId, err: e.message }, 'could not enrol patient; will retry at the next flush');
    });
  }

  private noteEnrolled(patientId: string): void {
    this.m.patientsEnrolled++;
    this.log.info({ patientId }, 'enrolled patient: new master secret sealed under the gateway passphrase');
  }

  private async epochKey(patientId: string, stream: StreamName, epoch: number): Promise<Uint8Array> {
    const k = `${patientId}/${stream}/${epoch}`;
    let key = this.keyCache.get(k);
    if (!key) {
      const { pms } = await this.keystore.getOrEnroll(patientId);
      key = deriveEpochKey(pms, patientId, stream, epoch);
      this.keyCache.set(k, key);
    }
    return key;
  }

  private async doFlush(all: boolean): Promise<void> {
    const now = Date.now();
    const due = this.batcher.take(now, all);
    const summaries = this.summarizer?.takeDue(now, all) ?? [];
    if (due.length === 0 && summaries.length === 0 && this.unstored.length === 0) {
      this.emit('durable');
      return;
    }
    this.inFlight = due;
    let sealedUpTo = 0;
    let sealedNow = 0;
    const T = { start: performance.now(), sealed: 0, packed: 0 };
    let waits = 0;
    for (const b of due) waits = Math.max(waits, now - b.openedAt);
    try {
      const before = this.epochs.current.epoch;
      const epoch = await this.epochs.at(now);
      if (epoch.epoch !== before) this.onEpochChange(epoch);
      // New patients are enrolled together (each costs fsyncs), not one by one inside the loop.
      await pMap(new Set(due.map((b) => b.patientId)), async (p) => {
        if ((await this.keystore.getOrEnroll(p)).enrolled) this.noteEnrolled(p);
      }, { concurrency: 32 });
      for (let i = 0; i < due.length; i++) {
        const b = due[i]!;
        const key = await this.epochKey(b.patientId, b.stream, epoch.epoch);
        this.unstored.push(sealReadings(b, key, epoch.epoch, this.index.lastSeq, this.summarizer !== undefined));
        sealedUpTo = i + 1;
        sealedNow++;
        // Thousands of batches can fall due in one tick; yield now and then so intake keeps flowing.
        if (i % 64 === 63) await new Promise((r) => setImmediate(r));
      }
      while (summaries.length) {
        const d = summaries[0]!;
        // Under the epoch of the readings summarised, which may have ended since.
        this.unstored.push(sealDueSummary(d, await this.epochKey(d.patientId, d.stream, d.epoch), this.index.lastSeq));
        summaries.shift();
      }
      T.sealed = performance.now();
      const batch = this.unstored;
      const stored = await this.store.putMany(batch.map((u) => ({ id: u.rec.id, bytes: u.bytes })));
      const durableAt = Date.now();
      const records: BatchRecord[] = batch.map((u, i) => ({ ...u.rec, pack: stored[i]!.pack, offset: stored[i]!.offset, durableAt }));
      T.packed = performance.now();
      await this.index.append(records);
      this.unstored = [];
      this.inFlight = [];
      const overdue = Math.max(0, waits - this.batcher.opts.windowMs);
      this.m.flushes++;
      this.m.maxOverdueMs = Math.max(this.m.maxOverdueMs, overdue);
      this.m.lastFlush = { batches: batch.length, sealMs: Math.round(T.sealed - T.start), storeMs: Math.round(T.packed - T.sealed), indexMs: Math.round(performance.now() - T.packed), overdueMs: overdue };
      this.log.debug(this.m.lastFlush, 'flushed');
      for (const r of records) {
        if (r.kind) this.m.summariesSealed++;
        else {
          this.m.batchesSealed++;
          this.m.readingsSealed += r.count;
        }
        this.m.bytesStored += r.bytes;
      }
      // Only durable data is summarised, so a summary never counts a reading a crash could lose.
      for (const u of batch) {
        if (u.bodies) this.summarizer?.addReadings(u.rec, u.bodies, durableAt);
        else if (u.summary?.kind === 'summary-1m') this.summarizer?.addMinuteRows(u.summary, u.summary.rows, durableAt);
      }
      for (const b of due) for (const t of b.received) this.receiveToDurable.add(durableAt - t);
      this.emit('sealed', records);
      this.emit('durable');
      // Stopping: the minutes just sealed make their hours due; seal those too.
      if (all && this.summarizer && (this.summarizer.open.minutes || this.summarizer.open.hours)) await this.doFlush(true);
    } catch (e) {
      // Batches not yet sealed go back to the batcher; sealed ones wait in `unstored` for the retry.
      this.summarizer?.restore(summaries);
      this.batcher.restore(due.slice(sealedUpTo));
      this.inFlight = [];
      this.m.flushErrors++;
      this.log.error({ err: (e as Error).message, sealedNow, waiting: this.unstored.length }, 'flush failed; batches kept and retried');
      if (all) throw e;
    }
  }

  private onEpochChange(rec: EpochRecord): void {
    for (const [k, key] of this.keyCache) {
      if (!k.endsWith(`/${rec.epoch}`)) {
        key.fill(0);
        this.keyCache.delete(k);
      }
    }
    this.log.info({ epoch: rec.epoch, reason: rec.reason }, 'epoch rotated');
    this.emit('epoch', rec);
  }

  /** Starts a new epoch now; readings not yet sealed will be sealed under it. */
  async rotateEpoch(): Promise<EpochRecord> {
    await this.flushing;
    const rec = await this.epochs.rotate();
    this.onEpochChange(rec);
    return rec;
  }

  metrics(): GatewayMetrics {
    return {
      ...this.m,
      rejectedByReason: { ...this.m.rejectedByReason },
      pendingReadings: this.batcher.pendingReadings + this.unstored.reduce((n, u) => n + (u.rec.kind ? 0 : u.rec.count), 0),
      epoch: this.epochs.current.epoch,
      epochStartedAt: this.epochs.current.startedAt,
      serial: this.serialSources.map((s) => s.status()),
      ble: this.bleSources.map((s) => s.status()),
      ...(this.mqttIn && { mqtt: this.mqttIn.status() }),
      adoptedAtStart: this.adopted,
      ...(this.anchorer ? { anchoring: this.anchorer.status() } : {}),
      ...(this.uploader ? { upload: this.uploader.status() } : {}),
      ...(this.envelopes ? { envelopes: this.envelopes.status() } : {}),
      ...(this.summarizer ? { summariesOpen: this.summarizer.open } : {}),
    };
  }

  /** Latency of the gateway's own stage so far: each reading from intake to its batch being durable. */
  stageLatency(): { receiveToDurableMs: LatencySummary } {
    return { receiveToDurableMs: this.receiveToDurable.summary() };
  }

  /**
   * Stops intake, seals and stores everything pending, then closes files. What is durable is
   * acknowledged before the broker connection closes; a reading that arrives in between is still
   * sealed, and its redelivery at the next start is recognised as a duplicate.
   */
  async stop(): Promise<void> {
    if (this.mqttIn) {
      // What was taken in is sealed and acknowledged before intake closes; what comes after is refused, unacknowledged, and sent again.
      await this.flush(true).catch(() => undefined);
      this.mqttIn.release();
      await this.mqttIn.close();
    }
    await Promise.all([...this.serialSources, ...this.bleSources].map((s) => s.stop()));
    this.stopped = true;
    clearInterval(this.timer);
    await this.flush(true);
    await this.access?.stop();
    await this.envelopes?.stop();
    // Anchoring first: one transaction, which a long final upload would otherwise starve of CPU.
    await this.anchorer?.stop();
    await this.uploader?.stop(this.opts.ingest?.stopTimeoutMs);
    this.throttle.report();
    await this.index.close();
    await this.epochs.close();
    for (const k of this.keyCache.values()) k.fill(0);
    this.keyCache.clear();
    await this.lock?.release();
    this.log.info({ ...this.metrics(), rejectedByReason: undefined, serial: undefined, ble: undefined, lastFlush: undefined }, 'gateway stopped');
  }
}
