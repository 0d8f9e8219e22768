import assert from 'node:assert/strict';
import { decodePayload } from '@vitalgate/protocol';
import { makeTemplates, patch, SEQ_BASE } from '../../src/harness/load.js';

describe('bench', () => {
  describe('saturation load', () => {
    it('patches seq and ts into templates that the gateway decoder accepts', () => {
      const start = Date.UTC(2025, 0, 1);
      const ts = makeTemplates(start);
      assert.ok(ts.length > 100, `${ts.length} templates`);
      assert.deepEqual(new Set(ts.map((t) => t.stream)), new Set(['ecg', 'ppg', 'hr', 'spo2', 'temp']));
      for (const t of ts.slice(0, 20)) {
        const r = decodePayload(t.stream, patch(t, SEQ_BASE + 12345, start + 99_999));
        assert.ok(r.ok, r.ok ? '' : r.reason);
        assert.equal(r.value.body.seq, SEQ_BASE + 12345);
        assert.equal(r.value.body.ts, start + 99_999);
      }
    });
  });
});
