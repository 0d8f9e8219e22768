/**
 * MQTT topic scheme, version 1:
 *
 *   vg/v1/{patientId}/{deviceId}/{stream}    a device publishes readings (QoS 1)
 *   vg/v1/{patientId}/{deviceId}/status      a device publishes its status (retained)
 *   vg/v1/{patientId}/{deviceId}/cmd         commands to one device (the only topic it may subscribe to)
 *
 * The patient comes first so that a gateway bound to a patient subscribes to one subtree
 * (vg/v1/{patientId}/#) and a broker ACL is a prefix check.
 */
import { isValidId } from './ids.js';
import { isStreamName, type StreamName } from './streams.js';
import { fail, ok, type Result } from './reading.js';

export const TOPIC_ROOT = 'vg/v1';

export interface ReadingTopic {
  patientId: string;
  deviceId: string;
  stream: StreamName;
}

export function readingTopic(patientId: string, deviceId: string, stream: StreamName): string {
  return `${TOPIC_ROOT}/${patientId}/${deviceId}/${stream}`;
}

export function statusTopic(patientId: string, deviceId: string): string {
  return `${TOPIC_ROOT}/${patientId}/${deviceId}/status`;
}

export function commandTopic(patientId: string, deviceId: string): string {
  return `${TOPIC_ROOT}/${patientId}/${deviceId}/cmd`;
}

/** Subscription filter for all readings of one patient, or of every patient. */
export function patientFilter(patientId?: string): string {
  return `${TOPIC_ROOT}/${patientId ?? '+'}/+/+`;
}

export function parseReadingTopic(topic: string): Result<ReadingTopic> {
  const parts = topic.split('/');
  if (parts.length !== 5 || `${parts[0]}/${parts[1]}` !== TOPIC_ROOT) {
    return fail(`topic "${topic.slice(0, 128)}" is not ${TOPIC_ROOT}/{patient}/{device}/{stream}`);
  }
  const [, , patientId, deviceId, stream] = parts as [string, string, string, string, string];
  if (!isValidId(patientId)) return fail(`invalid patient id in topic`);
  if (!isValidId(deviceId)) return fail(`invalid device id in topic`);
  if (!isStreamName(stream)) return fail(`unknown stream "${stream.slice(0, 32)}"`);
  return ok({ patientId, deviceId, stream });
}

/** Whether `topic` is a reading topic (what the broker never retains, and holds under backpressure). */
export function isReadingTopic(topic: string): boolean {
  return parseReadingTopic(topic).ok;
}
