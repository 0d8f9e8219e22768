/**
 * Alarm thresholds per clinician and patient, evaluated in the browser on decrypted values (the
 * server has none to compare). Kept in this browser's localStorage under the clinician's address:
 * settings, never readings.
 */
export interface Thresholds { hrLow: number; hrHigh: number; spo2Low: number; tempHigh: number }

export const DEFAULT_THRESHOLDS: Thresholds = { hrLow: 40, hrHigh: 130, spo2Low: 90, tempHigh: 38.5 };

const keyOf = (clinician: string, patient: string) => `vitalgate.alarms.${clinician.toLowerCase()}.${patient.toLowerCase()}`;

export function loadThresholds(clinician: string, patient: string): Thresholds {
  try {
    const v = JSON.parse(localStorage.getItem(keyOf(clinician, patient)) ?? 'null') as Partial<Thresholds> | null;
    return { ...DEFAULT_THRESHOLDS, ...(v ?? {}) };
  } catch {
    return { ...DEFAULT_THRESHOLDS };
  }
}

export function saveThresholds(clinician: string, patient: string, t: Thresholds): void {
  localStorage.setItem(keyOf(clinician, patient), JSON.stringify(t));
}

export type AlarmKind = 'hr-low' | 'hr-high' | 'spo2-low' | 'temp-high';
export interface Alarm { kind: AlarmKind; text: string }

/** The alarms the latest values raise, with UCUM units. */
export function alarmsFor(t: Thresholds, v: { hr?: number | undefined; spo2?: number | undefined; temp?: number | undefined }): Alarm[] {
  const out: Alarm[] = [];
  if (v.hr !== undefined && v.hr < t.hrLow) out.push({ kind: 'hr-low', text: `HR ${v.hr} /min < ${t.hrLow}` });
  if (v.hr !== undefined && v.hr > t.hrHigh) out.push({ kind: 'hr-high', text: `HR ${v.hr} /min > ${t.hrHigh}` });
  if (v.spo2 !== undefined && v.spo2 < t.spo2Low) out.push({ kind: 'spo2-low', text: `SpO2 ${v.spo2} % < ${t.spo2Low}` });
  if (v.temp !== undefined && v.temp > t.tempHigh) out.push({ kind: 'temp-high', text: `Temp ${v.temp} Cel > ${t.tempHigh}` });
  return out;
}

/*
 * Acknowledgement, as on a bedside monitor: an acknowledged alarm stays shown while its condition
 * lasts, but no longer calls for attention; once the condition clears the acknowledgement goes, and
 * the same alarm raised again calls again. Kept per clinician and patient in this browser.
 */
const ackKeyOf = (clinician: string, patient: string) => `vitalgate.alarm-acks.${clinician.toLowerCase()}.${patient.toLowerCase()}`;

/** When each active alarm was acknowledged; acknowledgements of alarms no longer active are dropped. */
export function acknowledgements(clinician: string, patient: string, active: readonly Alarm[]): Partial<Record<AlarmKind, number>> {
  let acks: Partial<Record<AlarmKind, number>> = {};
  try {
    acks = (JSON.parse(localStorage.getItem(ackKeyOf(clinician, patient)) ?? '{}') as Partial<Record<AlarmKind, number>>) ?? {};
  } catch { /* unreadable: none */ }
  const kept: Partial<Record<AlarmKind, number>> = {};
  for (const a of active) if (typeof acks[a.kind] === 'number') kept[a.kind] = acks[a.kind]!;
  if (Object.keys(kept).length !== Object.keys(acks).length) localStorage.setItem(ackKeyOf(clinician, patient), JSON.stringify(kept));
  return kept;
}

export function acknowledge(clinician: string, patient: string, kind: AlarmKind, at = Date.now()): void {
  let acks: Partial<Record<AlarmKind, number>> = {};
  try {
    acks = (JSON.parse(localStorage.getItem(ackKeyOf(clinician, patient)) ?? '{}') as Partial<Record<AlarmKind, number>>) ?? {};
  } catch { /* start over */ }
  acks[kind] = at;
  localStorage.setItem(ackKeyOf(clinician, patient), JSON.stringify(acks));
}
