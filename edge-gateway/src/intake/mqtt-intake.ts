/**
 * Readings from an MQTT broker, and the acknowledgement policy: a QoS 1 reading is acknowledged
 * (PUBACK) only once the batch holding it is durable, so a gateway killed at any moment loses
 * nothing the broker was told it has. What was not acknowledged stays queued in the gateway's
 * persistent session at the broker and comes again after a restart; de-duplication keeps the
 * store exactly-once.
 *
 * MQTT.js acknowledges a QoS 1 message as soon as its `handleMessage` hook calls back. The hook is
 * overridden here: it hands the message to the gateway, then calls back with a marker error, which
 * MQTT.js takes as "do not acknowledge" and moves on to the next packet. The PUBACKs are written
 * later on the same connection, many in one write. The end-to-end test (a gateway killed with
 * SIGKILL under load, every acknowledged reading reconciled) is what holds this to account when
 * MQTT.js changes.
 *
 * The unacknowledged window is bounded (`maxUnacked`, below the 65,535 packet ids a session has):
 * when it is full, the gateway is asked to seal everything pending at once, and the next packet is
 * not read until the window has room again, so TCP backpressure keeps the backlog at the broker.
 */
import mqtt, { type IClientOptions, type IPublishPacket, type MqttClient, type Packet } from 'mqtt';
import mqttPacket from 'mqtt-packet';
import type { Logger } from 'pino';
import { redactUrl } from '@vitalgate/protocol';
import { AckWindow, type AckPolicy } from './ack-policy.js';

export type { AckPolicy } from './ack-policy.js';

/** What the intake needs from the gateway. */
export interface IntakeSink {
  /** Takes one message in; returns its intake number. Never throws. */
  acceptMqtt(topic: string, payload: Uint8Array): number;
  /** Every message numbered below this is durable or dealt with. */
  durableBefore(): number;
  /** Seals and stores everything pending now. */
  flush(all: boolean): Promise<void>;
}

export interface MqttIntakeOptions {
  url: string;
  filters: string[];
  clientOptions: IClientOptions;
  ackPolicy?: AckPolicy;
  maxUnacked?: number;
  logger: Logger;
}

export interface MqttIntakeStatus {
  ackPolicy: AckPolicy;
  connected: boolean;
  /** QoS 1 messages taken in and not yet acknowledged. */
  unacked: number;
  acked: number;
  /** Tickets of a connection that closed before their batch was durable: the broker redelivers them. */
  acksDropped: number;
  /** Times the unacknowledged window was full and intake waited for a flush. */
  windowFull: number;
}

export const DEFAULT_MAX_UNACKED = 50_000;

/** Passed to MQTT.js's handleMessage callback to stop it sending the PUBACK itself. */
const DEFERRED = new Error('PUBACK deferred until the reading is durable');

export class MqttIntake {
  private readonly acks: AckWindow<unknown>;
  private readonly policy: AckPolicy;
  private readonly s = { acked: 0, acksDropped: 0 };

  private constructor(private readonly client: MqttClient, private readonly sink: IntakeSink, o: MqttIntakeOptions) {
    this.policy = o.ackPolicy ?? 'durable';
    // Below the 65,535 packet ids a session has.
    const max = Math.min(o.maxUnacked ?? DEFAULT_MAX_UNACKED, 60_000);
    this.acks = new AckWindow(max, { flush: () => sink.flush(true), release: () => this.release(), open: () => client.connected });
  }

  static async connect(sink: IntakeSink, o: MqttIntakeOptions): Promise<MqttIntake> {
    const client = mqtt.connect(o.url, { ...o.clientOptions, reconnectPeriod: 1000 });
    const intake = new MqttIntake(client, sink, o);
    const log = o.logger;
    // Installed before the first CONNACK: a resumed session's queued messages follow it at once, and
    // MQTT.js's default handler would acknowledge them with nobody taking them in (they were lost).
    client.handleMessage = (packet: Packet, callback: (err?: Error) => void) => intake.onMessage(packet, callback);
    try {
      await new Promise<void>((resolve, reject) => {
        const onError = (e: Error) => { client.off('connect', onConnect); reject(e); };
        const onConnect = () => { client.off('error', onError); resolve(); };
        client.once('connect', onConnect);
        client.once('error', onError);
      });
    } catch (e) {
      await client.endAsync(true);
      throw e;
    }
    // Tickets of the closed connection can no longer be acknowledged; what they stood for comes again.
    client.on('connect', () => {
      const dropped = intake.acks.clear();
      intake.s.acksDropped += dropped;
      if (dropped) log.info({ dropped }, 'reconnected; unacknowledged messages will be redelivered by the broker');
    });
    client.on('error', (e) => log.error({ err: e.message }, 'mqtt error'));
    client.on('offline', () => log.warn('broker connection lost; reconnecting'));
    client.on('reconnect', () => log.info('reconnecting to broker'));
    try {
      const granted = await client.subscribeAsync(o.filters, { qos: 1 });
      for (const g of granted) {
        if (g.qos !== 1) throw new Error(`broker refused subscription ${g.topic} at QoS 1 (granted ${g.qos})`);
      }
    } catch (e) {
      await client.endAsync(true);
      throw e;
    }
    log.info({ broker: redactUrl(o.url), filters: o.filters, ackPolicy: intake.policy }, 'subscribed');
    return intake;
  }

  private onMessage(packet: Packet, callback: (err?: Error) => void): void {
    if (packet.cmd !== 'publish') return callback();
    const p = packet as IPublishPacket;
    const intake = this.sink.acceptMqtt(p.topic, p.payload as Uint8Array);
    if (p.qos !== 1 || this.policy === 'arrival' || p.messageId === undefined) return callback();
    const full = this.acks.push({ intake, messageId: p.messageId, connection: this.client.stream });
    if (!full) return callback(DEFERRED);
    void full.then(() => callback(DEFERRED));
  }

  /** Sends the PUBACKs of every message that is now durable, in arrival order, in one write. */
  release(): void {
    if (this.acks.size === 0) return;
    const ready = this.acks.takeBefore(this.sink.durableBefore());
    if (ready.length === 0) return;
    const stream = this.client.stream;
    const live = this.client.connected && !stream.destroyed;
    const out: Buffer[] = [];
    for (const t of ready) {
      if (live && t.connection === stream) out.push(mqttPacket.generate({ cmd: 'puback', messageId: t.messageId }));
      else this.s.acksDropped++;
    }
    if (out.length) {
      stream.write(Buffer.concat(out));
      this.s.acked += out.length;
    }
  }

  status(): MqttIntakeStatus {
    return { ackPolicy: this.policy, connected: this.client.connected, unacked: this.acks.size, windowFull: this.acks.full, ...this.s };
  }

  /** Closes the connection cleanly; acknowledgements already released are written before it ends. */
  async close(): Promise<void> {
    await this.client.endAsync();
  }
}
