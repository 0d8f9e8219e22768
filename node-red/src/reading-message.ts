/**
 * The message every Vitalgate node speaks: one reading per message,
 * `msg.payload = { patientId, deviceId, stream, body }` and `msg.topic = vg/v1/{patient}/{device}/{stream}`,
 * the same reading model as the gateway (`@vitalgate/protocol`). Bodies from a flow are untrusted
 * and checked by the protocol's own validation before anything is sealed.
 */
import {
  fail, isStreamName, isValidId, ok, readingTopic, validateBody,
  type ReadingBody, type Result, type StreamName,
} from '@vitalgate/protocol';
import type { NodeMessage } from './red.js';

export interface PatientReading {
  patientId: string;
  deviceId: string;
  stream: StreamName;
  body: ReadingBody;
}

export function readingMessage(r: PatientReading, ack?: string): NodeMessage {
  return { topic: readingTopic(r.patientId, r.deviceId, r.stream), payload: r, ...(ack !== undefined && { vitalgate: { ack } }) };
}

export function parseReading(payload: unknown): Result<PatientReading> {
  if (typeof payload !== 'object' || payload === null || Array.isArray(payload)) return fail('msg.payload is not a reading object ({ patientId, deviceId, stream, body })');
  const p = payload as Record<string, unknown>;
  if (typeof p.patientId !== 'string' || !isValidId(p.patientId)) return fail('msg.payload.patientId is not a valid id');
  if (typeof p.deviceId !== 'string' || !isValidId(p.deviceId)) return fail('msg.payload.deviceId is not a valid id');
  if (typeof p.stream !== 'string' || !isStreamName(p.stream)) return fail('msg.payload.stream is not a Vitalgate stream');
  const body = validateBody(p.stream, p.body);
  if (!body.ok) return fail(`msg.payload.body: ${body.reason}`);
  return ok({ patientId: p.patientId, deviceId: p.deviceId, stream: p.stream, body: body.value });
}

/** Bytes from msg.payload: a Buffer / Uint8Array, an array of bytes, or a hex string. */
export function payloadBytes(payload: unknown): Result<Uint8Array> {
  if (payload instanceof Uint8Array) return ok(payload);
  if (Array.isArray(payload) && payload.every((b) => Number.isInteger(b) && b >= 0 && b <= 255)) return ok(Uint8Array.from(payload as number[]));
  if (typeof payload === 'string') {
    const hex = payload.replace(/\s+/g, '');
    if (/^(?:[0-9a-fA-F]{2})*$/.test(hex)) return ok(Uint8Array.from(Buffer.from(hex, 'hex')));
  }
  return fail('msg.payload is not bytes (a Buffer, an array of bytes, or a hex string)');
}
