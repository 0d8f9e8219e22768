/**
 * `vitalgate-device-in`: readings from an MQTT broker, a serial port (UART firmware) or BLE (a real
 * radio through noble, or the simulator's BLE-sim hub), through the gateway's own source adapters:
 * the MQTT intake of @vitalgate/edge-gateway and the serial and BLE sources of
 * @vitalgate/firmware-bridge. One message per reading (see reading-message.ts).
 *
 * MQTT readings arrive at QoS 1 and, with `ack: durable` (the default), their PUBACK waits until a
 * vitalgate-seal node downstream has made them durable (the message's `vitalgate.ack` token), in
 * arrival order. A connection that drops before then leaves them with the broker, which delivers
 * them again; the seal node's de-duplication keeps the store exactly-once. With `ack: arrival` they
 * are acknowledged on receipt, as Node-RED's own MQTT node does (and as it does, can lose them).
 */
import { MqttIntake, type IntakeSink } from '@vitalgate/edge-gateway';
import { BleSource, NobleCentral, SerialSource, SimCentral, type ReadingSink } from '@vitalgate/firmware-bridge';
import {
  TOPIC_ROOT, decodePayload, parseReadingTopic, patientFilter, type ReadingBody, type StreamName,
} from '@vitalgate/protocol';
import { forgetAcks, registerAck } from '../acks.js';
import { flushAllGateways } from '../gateway-handle.js';
import { nodeLogger } from '../logger.js';
import { readingMessage } from '../reading-message.js';
import { errorText, numProp, prop, type Node, type NodeDef, type RedApi } from '../red.js';

interface Source { stop(): Promise<void>; status(): string; ok(): boolean }

/** The MQTT intake's view of this node: intake numbers, and the watermark the seal nodes move. */
class FlowIntakeSink implements IntakeSink {
  private next = 0;
  /** Intake numbers sent into the flow and not yet durable, in order (Map keeps insertion order). */
  private readonly outstanding = new Map<number, true>();
  intake: MqttIntake | undefined;
  received = 0;
  rejected = 0;

  constructor(private readonly node: Node, private readonly owner: string, private readonly durable: boolean) {}

  acceptMqtt(topic: string, payload: Uint8Array): number {
    const n = this.next++;
    this.received++;
    if (topic.endsWith('/status') || topic.endsWith('/cmd')) return n;
    const t = parseReadingTopic(topic);
    const p = t.ok ? decodePayload(t.value.stream, payload) : t;
    if (!t.ok || !p.ok) {
      this.rejected++;
      this.node.warn(`rejected message on ${topic.slice(0, 120)}: ${p.ok ? '' : p.reason}`);
      return n;
    }
    let token: string | undefined;
    if (this.durable) {
      this.outstanding.set(n, true);
      token = registerAck(this.owner, () => {
        this.outstanding.delete(n);
        this.intake?.release();
      });
    }
    this.node.send(readingMessage({ ...t.value, body: p.value.body }, token));
    return n;
  }

  durableBefore(): number {
    for (const n of this.outstanding.keys()) return n;
    return this.next;
  }

  flush(): Promise<void> {
    return flushAllGateways();
  }

  /** The connection's tickets are gone: the broker redelivers those messages. */
  forget(): void {
    this.outstanding.clear();
    forgetAcks(this.owner);
  }
}

function readingSink(node: Node): ReadingSink & { readings: number } {
  const sink = {
    readings: 0,
    acceptReading(patientId: string, deviceId: string, stream: StreamName, body: ReadingBody) {
      sink.readings++;
      node.send(readingMessage({ patientId, deviceId, stream, body }));
    },
  };
  return sink;
}

async function startMqtt(node: Node, def: NodeDef, onChange: () => void): Promise<Source> {
  const url = prop(def, 'broker');
  if (!url) throw new Error('no broker URL');
  const patients = prop(def, 'patients').split(/[\s,]+/).filter(Boolean);
  const durable = prop(def, 'ack') !== 'arrival';
  const sink = new FlowIntakeSink(node, `device-in:${node.id}:${Date.now()}`, durable);
  const clientId = prop(def, 'clientId');
  const intake = await MqttIntake.connect(sink, {
    url,
    filters: patients.length ? patients.map((p) => `${TOPIC_ROOT}/${p}/+/+`) : [patientFilter()],
    clientOptions: {
      clientId: clientId || `vitalgate-node-red-${node.id}-${process.pid}`,
      // A stable client id keeps the session (and the QoS 1 queue) at the broker across restarts.
      clean: !clientId,
      ...(prop(def, 'username') && { username: prop(def, 'username') }),
      ...(node.credentials?.password && { password: node.credentials.password }),
    },
    ackPolicy: durable ? 'durable' : 'arrival',
    logger: nodeLogger(node, 'mqtt', 'warn'),
  });
  sink.intake = intake;
  let wasConnected = true;
  const poll = setInterval(() => {
    const c = intake.status().connected;
    // Reconnected: the old connection's tickets were dropped by the intake; forget their tokens.
    if (c && !wasConnected) sink.forget();
    if (c !== wasConnected) onChange();
    wasConnected = c;
  }, 200);
  return {
    async stop() {
      clearInterval(poll);
      intake.release();
      await intake.close();
      sink.forget();
    },
    ok: () => intake.status().connected,
    status() {
      const s = intake.status();
      return `${s.connected ? 'connected' : 'disconnected'}; ${sink.received} in, ${s.acked} acked, ${s.unacked} waiting${sink.rejected ? `, ${sink.rejected} rejected` : ''}`;
    },
  };
}

async function startSerial(node: Node, def: NodeDef): Promise<Source> {
  const path = prop(def, 'serialPath');
  const patientId = prop(def, 'patientId');
  if (!path || !patientId) throw new Error('serial needs a port path and a patient id');
  const src = new SerialSource({ path, patientId, baudRate: numProp(def, 'baudRate', 115200), logger: nodeLogger(node, 'serial', 'warn') });
  const sink = readingSink(node);
  await src.start(sink);
  return {
    stop: () => src.stop(),
    ok: () => src.status().open,
    status() {
      const s = src.status();
      return `${s.open ? 'open' : 'closed'} ${path}; ${s.readings} readings${s.badFrames ? `, ${s.badFrames} bad frames` : ''}${s.lastError && !s.open ? `: ${s.lastError}` : ''}`;
    },
  };
}

async function startBle(node: Node, def: NodeDef): Promise<Source> {
  const radio = prop(def, 'radio');
  const patientId = prop(def, 'patientId');
  const devices = prop(def, 'devices').split(/[\s,]+/).filter(Boolean);
  if (!radio || !patientId) throw new Error('BLE needs a radio (noble, or ble-sim://host:port) and a patient id');
  if (radio === 'noble' && !devices.length) throw new Error('BLE on a real radio needs the addresses of the patient\'s own devices: a neighbour\'s strap would write into this record');
  const src = new BleSource({
    central: radio === 'noble' ? new NobleCentral() : new SimCentral(radio),
    patientId,
    ...(devices.length && { allow: devices }),
    logger: nodeLogger(node, 'ble', 'warn'),
  });
  const sink = readingSink(node);
  await src.start(sink);
  return {
    stop: () => src.stop(),
    ok: () => true,
    status() {
      const s = src.status();
      return `${radio}: ${Object.keys(s.peripherals).length} devices, ${sink.readings} readings`;
    },
  };
}

export function registerDeviceIn(RED: RedApi): void {
  RED.nodes.registerType('vitalgate-device-in', function (this: Node, def: NodeDef) {
    RED.nodes.createNode(this, def);
    const node = this;
    const kind = prop(def, 'source') || 'mqtt';
    let source: Source | undefined;
    let closed = false;
    const show = () => {
      if (source) node.status({ fill: source.ok() ? 'green' : 'red', shape: source.ok() ? 'dot' : 'ring', text: source.status().slice(0, 80) });
    };
    node.status({ fill: 'yellow', shape: 'ring', text: `connecting (${kind})` });
    const started = kind === 'serial' ? startSerial(node, def) : kind === 'ble' ? startBle(node, def) : startMqtt(node, def, show);
    started.then((s) => {
      if (closed) return void s.stop();
      source = s;
      show();
    }, (e: unknown) => {
      node.status({ fill: 'red', shape: 'ring', text: errorText(e).slice(0, 80) });
      node.error(`${kind} source did not start: ${errorText(e)}`);
    });
    const timer = setInterval(show, 1000);
    node.on('close', (_removed, done) => {
      closed = true;
      clearInterval(timer);
      started.then((s) => s.stop(), () => undefined).catch(() => undefined).finally(done);
    });
  }, { credentials: { password: { type: 'password' } } });
}
