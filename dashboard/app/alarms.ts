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

/** The alarms the latest values raise, as text with UCUM units. */
export function alarmsFor(t: Thresholds, v: { hr?: number | undefined; spo2?: number | undefined; temp?: number | undefined }): string[] {
  const out: string[] = [];
  if (v.hr !== undefined && v.hr < t.hrLow) out.push(`HR ${v.hr} /min < ${t.hrLow}`);
  if (v.hr !== undefined && v.hr > t.hrHigh) out.push(`HR ${v.hr} /min > ${t.hrHigh}`);
  if (v.spo2 !== undefined && v.spo2 < t.spo2Low) out.push(`SpO2 ${v.spo2} % < ${t.spo2Low}`);
  if (v.temp !== undefined && v.temp > t.tempHigh) out.push(`Temp ${v.temp} Cel > ${t.tempHigh}`);
  return out;
}
