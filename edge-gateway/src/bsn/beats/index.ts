/**
 * Heart-beat detection for the BSN key backup: the fuzzy vault is locked and unlocked with
 * inter-pulse-interval features, and these detectors supply the beat times (ECG R peaks, PPG
 * pulses); scoreBeats measures them against reference annotations.
 */
export { detectRPeaks, type RPeakOptions } from './ecg.js';
export { detectPulsePeaks, type PulseOptions, type PulseFiducial } from './ppg.js';
export { scoreBeats, type BeatScore } from './score.js';
