export { BodyModel, MIN_MEAN_HR_BPM, MAX_MEAN_HR_BPM, type BodyModelOptions } from './body.js';
export { Prng, seedToUint32 } from './prng.js';
export { MIN_RR_MS, MAX_RR_MS } from './rr.js';
export { PPG_MAX_COUNT } from './ppg.js';
export { SPO2_MIN, SPO2_MAX, TEMP_MIN_CEL, TEMP_MAX_CEL } from './vitals.js';
