/**
 * Heart-beat detection: ECG R peaks and PPG pulses (the key backup's fuzzy vault is locked and
 * unlocked with the inter-pulse intervals they give); scoreBeats measures them against reference
 * annotations; classifySignal tells which signals of a recording carry beats.
 */
export { detectRPeaks, type RPeakOptions } from './ecg.js';
export { detectPulsePeaks, type PulseOptions, type PulseFiducial } from './ppg.js';
export { scoreBeats, type BeatScore } from './score.js';
export { classifySignal, type SensorKind } from './classify.js';
