import assert from 'node:assert/strict';
import { keccak_256 } from '@noble/hashes/sha3.js';
import { bytesToHex, utf8ToBytes } from '@noble/hashes/utils.js';
import { derivePatientRef, PMS_BYTES } from '../src/index.js';

describe('patientRef: keyed by the patient master secret', () => {
  const pms = new Uint8Array(PMS_BYTES).fill(7);
  it('is 32 bytes, deterministic, and depends on both the secret and the id', () => {
    const ref = derivePatientRef(pms, 'patient-0001');
    assert.match(ref, /^0x[0-9a-f]{64}$/);
    assert.equal(derivePatientRef(pms, 'patient-0001'), ref);
    assert.notEqual(derivePatientRef(pms, 'patient-0002'), ref);
    const other = pms.slice();
    other[0] = 8;
    assert.notEqual(derivePatientRef(other, 'patient-0001'), ref);
  });
  it('cannot be found from a guessed id: it is not keccak256(id)', () => {
    assert.notEqual(derivePatientRef(pms, 'patient-0001'), `0x${bytesToHex(keccak_256(utf8ToBytes('patient-0001')))}`);
  });
  it('refuses a secret of the wrong size and an invalid id', () => {
    assert.throws(() => derivePatientRef(new Uint8Array(31), 'patient-0001'), /32 bytes/);
    assert.throws(() => derivePatientRef(pms, ''), /patient/);
  });
});
