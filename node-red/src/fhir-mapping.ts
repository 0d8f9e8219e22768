/**
 * Where vitalgate-fhir finds the FHIR R4 mapping: `readingsToFhirBundle` of @vitalgate/protocol.
 * The palette does not map to FHIR itself (that mapping belongs to the protocol package, which
 * the CLI's `export fhir` and the dashboard share). Until the protocol exports it, the node says so
 * in its status and refuses messages, rather than sending something half-made.
 */
import type { PatientReading } from './reading-message.js';

/** The minimal interface the node needs: readings of one patient in, a FHIR Bundle out. */
export interface FhirMapping {
  readingsToFhirBundle(readings: PatientReading[]): unknown;
}

let override: FhirMapping | undefined;

/** Tests put a mapping in place; undefined puts the protocol's back. */
export function setFhirMapping(m: FhirMapping | undefined): void {
  override = m;
}

export async function loadFhirMapping(): Promise<FhirMapping | undefined> {
  if (override) return override;
  const protocol = (await import('@vitalgate/protocol')) as Record<string, unknown>;
  const fn = protocol.readingsToFhirBundle;
  return typeof fn === 'function' ? { readingsToFhirBundle: (rs) => (fn as (r: PatientReading[]) => unknown)(rs) } : undefined;
}
