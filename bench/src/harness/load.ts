/**
 * Saturation load: N MQTT connections (one simulated device each) publish valid mixed-profile
 * readings at QoS 1 as fast as the broker acknowledges them, each keeping at most `window`
 * publishes unacknowledged, so the broker is saturated but nothing queues without bound.
 *
 * Bodies are encoded once (ten seconds of a simulated mixed-profile device) and then only copied and
 * patched: the sequence number and timestamp sit at fixed offsets because the sequence numbers start
 * at 65536 (always a 4-byte CBOR integer) and the timestamps are past 2^32 ms (always 8 bytes). So
 * the publishers spend their CPU on MQTT, not on synthesising signals or encoding CBOR.
 */
import mqtt, { type MqttClient } from 'mqtt';
import { decodePayload, encodeBody, readingTopic, type ReadingBody, type StreamName } from '@vitalgate/protocol';
import { PROFILES, SimDevice } from '@vitalgate/device-sim';
import { Ledger } from './ledger.js';

export const SEQ_BASE = 0x10000;
const TEMPLATE_SPAN_MS = 10_000;

interface Template {
  stream: StreamName;
  bytes: Buffer;
  seqOff: number;
  tsOff: number;
  /** ts of this body relative to the template's start. */
  tsRel: number;
}

function indexOf(hay: Uint8Array, needle: readonly number[]): number {
  outer: for (let i = 0; i + needle.length <= hay.length; i++) {
    for (let j = 0; j < needle.length; j++) if (hay[i + j] !== needle[j]) continue outer;
    return i;
  }
  return -1;
}

const SEQ_KEY = [0x63, 0x73, 0x65, 0x71, 0x1a]; // text(3) "seq", uint32 follows
const TS_KEY = [0x62, 0x74, 0x73, 0x1b]; // text(2) "ts", uint64 follows

/** Writes seq and ts into a copy of a template. */
export function patch(t: Template, seq: number, ts: number): Buffer {
  const b = Buffer.allocUnsafe(t.bytes.length);
  t.bytes.copy(b);
  b.writeUInt32BE(seq, t.seqOff);
  b.writeUInt32BE(Math.floor(ts / 0x1_0000_0000), t.tsOff);
  b.writeUInt32BE(ts >>> 0, t.tsOff + 4);
  return b;
}

/** Ten seconds of one mixed-profile device, CBOR-encoded with patchable seq and ts. */
export function makeTemplates(startMs: number): Template[] {
  const dev = new SimDevice('sat-template', 'patient-template', PROFILES.mixed!, startMs, 7);
  const out: Template[] = [];
  for (const r of dev.due(startMs + TEMPLATE_SPAN_MS)) {
    const body: ReadingBody = { ...r.body, seq: SEQ_BASE };
    const bytes = Buffer.from(encodeBody(body, 'cbor'));
    const seqAt = indexOf(bytes, SEQ_KEY);
    const tsAt = indexOf(bytes, TS_KEY);
    if (seqAt < 0 || tsAt < 0) throw new Error(`cannot find seq/ts in the CBOR encoding of a ${r.stream} body`);
    const t: Template = { stream: r.stream, bytes, seqOff: seqAt + SEQ_KEY.length, tsOff: tsAt + TS_KEY.length, tsRel: r.body.ts - startMs };
    // Check the patching once per template: the gateway must accept every patched body.
    const probeTs = startMs + 123_456_789;
    const probe = decodePayload(r.stream, patch(t, SEQ_BASE + 0xabcdef, probeTs));
    if (!probe.ok || probe.value.body.seq !== SEQ_BASE + 0xabcdef || probe.value.body.ts !== probeTs) {
      throw new Error(`patched ${r.stream} template does not decode back: ${probe.ok ? 'wrong seq/ts' : probe.reason}`);
    }
    out.push(t);
  }
  return out;
}

/** Device id of publisher `i` (0-based) of a load with `connections` publishers. */
export function loadDeviceId(prefix: string, connections: number, i: number): string {
  return `${prefix}-${String(i + 1).padStart(Math.max(4, String(connections).length), '0')}`;
}

export function loadPatientId(prefix: string, connections: number, i: number): string {
  return `patient-${loadDeviceId(prefix, connections, i)}`;
}

export interface LoadOptions {
  brokerUrl: string;
  connections: number;
  window: number;
  seconds: number;
  /** Distinguishes the device ids of separate runs. */
  prefix: string;
  /** Secret of each device id, for a broker with identity on (username = clientId = device id). */
  secrets?: ReadonlyMap<string, string>;
}

export interface LoadStats {
  published: number;
  acked: number;
  failed: number;
  inFlight: number;
}

export interface LoadResult extends LoadStats {
  firstPublishAt: number;
  /** When the last publish was made and when the last PUBACK arrived. */
  lastPublishAt: number;
  lastAckAt: number;
  ledger: Ledger;
}

/** A running saturation load. `connect()`, then `run()`; `close()` always. */
export class SaturationLoad {
  private clients: MqttClient[] = [];
  private readonly templates: Template[];
  private readonly t0 = Date.now();
  readonly ledger = new Ledger(SEQ_BASE);
  private readonly s: LoadStats = { published: 0, acked: 0, failed: 0, inFlight: 0 };
  private stopAt = 0;

  constructor(readonly opts: LoadOptions) {
    this.templates = makeTemplates(this.t0);
  }

  stats(): LoadStats {
    return { ...this.s };
  }

  async connect(): Promise<void> {
    const ids = Array.from({ length: this.opts.connections }, (_, i) => this.deviceId(i));
    this.clients = await Promise.all(ids.map((id) => mqtt.connectAsync(this.opts.brokerUrl, {
      clientId: id,
      ...(this.opts.secrets && { username: id, password: this.opts.secrets.get(id) }),
      clean: true,
      reconnectPeriod: 1000,
      connectTimeout: 30_000,
    })));
  }

  deviceId(i: number): string {
    return loadDeviceId(this.opts.prefix, this.opts.connections, i);
  }

  patientId(i: number): string {
    return loadPatientId(this.opts.prefix, this.opts.connections, i);
  }

  /** Publishes for `seconds`, then waits for every outstanding PUBACK. */
  run(): Promise<LoadResult> {
    const T = this.templates.length;
    const firstPublishAt = Date.now();
    let lastPublishAt = firstPublishAt;
    let lastAckAt = firstPublishAt;
    this.stopAt = firstPublishAt + this.opts.seconds * 1000;
    const ts0 = firstPublishAt;
    return new Promise<LoadResult>((resolve) => {
      let running = this.clients.length;
      this.clients.forEach((client, i) => {
        const deviceId = this.deviceId(i);
        const patientId = this.patientId(i);
        const topics = new Map<StreamName, string>();
        for (const t of this.templates) topics.set(t.stream, readingTopic(patientId, deviceId, t.stream));
        let n = 0;
        let inFlight = 0;
        let finished = false;
        const pump = (): void => {
          let now = Date.now();
          while (inFlight < this.opts.window && now < this.stopAt) {
            const t = this.templates[n % T]!;
            const seq = SEQ_BASE + n;
            const ts = ts0 + Math.floor(n / T) * TEMPLATE_SPAN_MS + t.tsRel;
            n++;
            inFlight++;
            this.s.published++;
            this.s.inFlight++;
            const publishedAt = now;
            client.publish(topics.get(t.stream)!, patch(t, seq, ts), { qos: 1 }, (err) => {
              inFlight--;
              this.s.inFlight--;
              if (err) {
                this.s.failed++;
                this.ledger.fail(deviceId, seq);
              } else {
                this.s.acked++;
                lastAckAt = Date.now();
                this.ledger.ack(deviceId, t.stream, seq, publishedAt);
              }
              pump();
            });
            lastPublishAt = now;
            now = Date.now();
          }
          if (inFlight === 0 && now >= this.stopAt && !finished) {
            finished = true;
            if (--running === 0) resolve({ ...this.s, firstPublishAt, lastPublishAt, lastAckAt, ledger: this.ledger });
          }
        };
        pump();
      });
    });
  }

  /**
   * Publishes one reading on `topic` at QoS 1 and resolves on its PUBACK: from the first load
   * connection, or, with `as` (a broker with ACLs), from its own connection as that identity.
   */
  async publishOnce(topic: string, body: ReadingBody, as?: { id: string; secret: string }): Promise<void> {
    const payload = Buffer.from(encodeBody(body, 'cbor'));
    if (as) {
      const c = await mqtt.connectAsync(this.opts.brokerUrl, { clientId: as.id, username: as.id, password: as.secret, reconnectPeriod: 0 });
      try {
        await c.publishAsync(topic, payload, { qos: 1 });
      } finally {
        await c.endAsync();
      }
      return;
    }
    const c = this.clients[0];
    if (!c) throw new Error('connect() first');
    await c.publishAsync(topic, payload, { qos: 1 });
  }

  /** Stops publishing new readings now (outstanding PUBACKs are still awaited by run()). */
  stop(): void {
    this.stopAt = 0;
  }

  async close(): Promise<void> {
    await Promise.all(this.clients.map((c) => c.endAsync(true).catch(() => undefined)));
  }
}
