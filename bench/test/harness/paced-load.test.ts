import assert from 'node:assert/strict';
import { messagesPerSecond, PROFILES } from '@vitalgate/device-sim';
import { CYCLE_MS, mixedSchedule, pacedIds } from '../../src/harness/paced-load.js';

describe('bench', () => {
  describe('paced load schedule', () => {
    it('is ten seconds of the mixed profile at its real rates, in the order the readings are due', () => {
      const s = mixedSchedule();
      assert.equal(s.length, (messagesPerSecond(PROFILES.mixed!) * CYCLE_MS) / 1000);
      const per = (stream: string) => s.filter((e) => e.stream === stream).length;
      assert.deepEqual([per('ecg'), per('ppg'), per('hr'), per('spo2'), per('temp')], [100, 20, 10, 10, 1]);
      for (let i = 1; i < s.length; i++) assert.ok(s[i]!.dueRel >= s[i - 1]!.dueRel);
      assert.ok(s.every((e) => e.dueRel >= e.tsRel && e.dueRel <= CYCLE_MS));
    });
    it('names devices and patients as the simulator does', () => {
      assert.deepEqual(pacedIds(2), { deviceIds: ['sim-0001', 'sim-0002'], patientIds: ['patient-0001', 'patient-0002'] });
      assert.equal(pacedIds(12_000).patientIds[11_999], 'patient-12000');
    });
  });
});
