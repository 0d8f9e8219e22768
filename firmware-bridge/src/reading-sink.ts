import type { ReadingBody, StreamName } from '@vitalgate/protocol';

/** Where a source delivers validated readings: the gateway, or anything with the same shape. */
export interface ReadingSink {
  acceptReading(patientId: string, deviceId: string, stream: StreamName, body: ReadingBody, now?: number, origin?: string): void;
}
