/**
 * Readings from a broker in this same process: the edge box where broker and gateway sit together
 * (`vitalgate gateway --serve-mqtt`). The broker hands each device publish straight to the gateway,
 * with no second MQTT hop: no subscriber session, no re-encoding, no PUBACK traffic between broker
 * and gateway.
 *
 * The durability promise is the MQTT intake's, moved one hop closer to the device: a device's QoS 1
 * publish gets its PUBACK only once the batch holding it is durable (released by the same intake-
 * number watermark, see ack-policy.ts), so a SIGKILL of the process loses nothing a device was told
 * is stored. The device keeps what was not acknowledged and sends it again when it reconnects;
 * de-duplication keeps the store exactly-once.
 *
 * The unacknowledged window is bounded: when it is full, everything pending is sealed at once, and
 * the publish that found it full is answered (and the device's socket read again) only when there
 * is room. Devices feel that as slower PUBACKs; the backlog stays in their own buffers and in TCP,
 * not in this process's memory.
 */
import { TOPIC_ROOT } from '@vitalgate/protocol';
import type { IntakeSink } from './mqtt-intake.js';
import { AckWindow } from './ack-policy.js';
import type { MqttIntakeStatus } from './mqtt-intake.js';

/** Sends one publish's PUBACK if its connection is still open; false when it could not (the device resends). */
export type SendAck = () => boolean;

export const DEFAULT_LOCAL_MAX_UNACKED = 200_000;

export class LocalIntake {
  private readonly acks: AckWindow<SendAck>;
  private readonly s = { acked: 0, acksDropped: 0 };
  private closed = false;

  constructor(private readonly sink: IntakeSink, maxUnacked = DEFAULT_LOCAL_MAX_UNACKED) {
    this.acks = new AckWindow(maxUnacked, { flush: () => sink.flush(true), release: () => this.release(), open: () => !this.closed });
  }

  /**
   * One device publish. With `ack` (QoS 1) its PUBACK is sent once it is durable. Returns a promise
   * when the unacknowledged window is full: the broker must not read more from that device until it
   * settles. Never throws.
   */
  take(topic: string, payload: Uint8Array, ack?: SendAck): Promise<void> | undefined {
    const intake = this.sink.acceptMqtt(topic, payload);
    // Closed: the gateway is stopping and refuses it; no PUBACK, so the device sends it again.
    if (!ack || this.closed) return undefined;
    return this.acks.push({ intake, messageId: 0, connection: ack });
  }

  /** The topics a gateway takes: device readings and status reports, not commands sent to devices. */
  accepts(topic: string): boolean {
    return topic.startsWith(`${TOPIC_ROOT}/`) && !topic.endsWith('/cmd');
  }

  /** Sends the PUBACKs of every publish that is now durable, oldest first. */
  release(): void {
    // After close a message can be "dealt with" by being refused; it must not be acknowledged.
    if (this.acks.size === 0 || this.closed) return;
    for (const t of this.acks.takeBefore(this.sink.durableBefore())) {
      if (t.connection()) this.s.acked++;
      else this.s.acksDropped++;
    }
  }

  /** Stops waiting for room (the broker is closing); what is unacknowledged is resent by devices. */
  close(): void {
    this.closed = true;
  }

  status(): MqttIntakeStatus {
    return { ackPolicy: 'durable', connected: !this.closed, unacked: this.acks.size, windowFull: this.acks.full, ...this.s };
  }
}
