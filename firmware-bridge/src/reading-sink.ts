import type { DeviceStatusReport, ReadingBody, StreamName } from '@vitalgate/protocol';

/** Where a source delivers validated readings: the gateway, or anything with the same shape. */
export interface ReadingSink {
  acceptReading(patientId: string, deviceId: string, stream: StreamName, body: ReadingBody, now?: number, origin?: string): void;
  /** What a device says about itself (battery, lead-off), for the summaries' device states. */
  acceptStatus?(patientId: string, deviceId: string, report: DeviceStatusReport, now?: number): void;
}
