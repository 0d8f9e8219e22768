/**
 * A patient's waveform stream over MQTT: subscribe, decode, hand over every frame.
 */
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import {
  assertValidId, decodePayload, isWaveformBody, parseReadingTopic, readingTopic, TOPIC_ROOT,
  type StreamName, type WaveformBody,
} from '@vitalgate/protocol';

export interface WaveformSubscription {
  /** The topic filter subscribed to. */
  filter: string;
  close(): Promise<void>;
}

export interface SubscribeWaveformOptions {
  url: string;
  patientId: string;
  /** Default: any device of the patient ('+'); the caller keeps to one. */
  deviceId?: string;
  stream: StreamName;
  mqtt?: Pick<IClientOptions, 'username' | 'password' | 'ca' | 'cert' | 'key' | 'rejectUnauthorized'>;
  onBody: (deviceId: string, body: WaveformBody) => void;
  /** Messages that did not decode (never throws). */
  onReject?: (topic: string, reason: string) => void;
}

/** Subscribes (QoS 1) to one waveform stream of one patient and hands over every decoded frame. */
export async function subscribeWaveform(o: SubscribeWaveformOptions): Promise<WaveformSubscription> {
  assertValidId('patient', o.patientId);
  if (o.deviceId !== undefined) assertValidId('device', o.deviceId);
  const filter = o.deviceId !== undefined ? readingTopic(o.patientId, o.deviceId, o.stream) : `${TOPIC_ROOT}/${o.patientId}/+/${o.stream}`;
  const client: MqttClient = await mqtt.connectAsync(o.url, {
    clientId: `vitalgate-keys-${process.pid}-${Math.random().toString(16).slice(2, 10)}`,
    clean: true,
    reconnectPeriod: 1000,
    connectTimeout: 15_000,
    ...(o.mqtt ?? {}),
  });
  client.on('message', (topic, payload) => {
    const t = parseReadingTopic(topic);
    if (!t.ok) return o.onReject?.(topic, t.reason);
    const p = decodePayload(t.value.stream, payload);
    if (!p.ok) return o.onReject?.(topic, p.reason);
    if (!isWaveformBody(p.value.body)) return o.onReject?.(topic, 'not a waveform frame');
    o.onBody(t.value.deviceId, p.value.body);
  });
  const granted = await client.subscribeAsync(filter, { qos: 1 });
  if (granted.some((g) => g.qos > 2)) {
    await client.endAsync(true);
    throw new Error(`the broker refused the subscription to ${filter}`);
  }
  return { filter, close: () => client.endAsync() };
}
