/**
 * Which signals of a recording carry heartbeats: ECG leads (R peaks) and PPG (pulses), told apart
 * by the signal's description as WFDB headers write it (MLII, V5, PLETH…).
 */
export type SensorKind = 'ecg' | 'ppg';

/** Classify a WFDB signal description: ECG lead, PPG, or not pulse-bearing (null). */
export function classifySignal(description: string): SensorKind | null {
  const d = description.trim().toUpperCase();
  if (/^(PLETH|PPG|PLET|PULSE|SPO2 ?WAVE|PLETH.*)$/.test(d) || /\bPPG\b|\bPLETH/.test(d)) return 'ppg';
  if (/^(I|II|III|AVR|AVL|AVF|V|V[1-6]|MLI|MLII|MLIII|ML[A-Z0-9]*|MV[0-9]*|D[1-3]|CM[0-9]*|CC[0-9]*)$/.test(d)) return 'ecg';
  if (/^(ECG|EKG)\b/.test(d) || /\bECG\b|\bEKG\b/.test(d)) return 'ecg';
  return null;
}
