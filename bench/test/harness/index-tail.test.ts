import assert from 'node:assert/strict';
import { appendFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { IndexTail } from '../../src/harness/index-tail.js';

describe('bench', () => {
  describe('index tail', () => {
    it('counts the readings of batches, not summary records, and waits for a partial line', async () => {
      const dir = await mkdtemp(join(tmpdir(), 'bench-index-tail-'));
      try {
        const path = join(dir, 'index.jsonl');
        const line = (o: Record<string, unknown>) => JSON.stringify(o) + '\n';
        await appendFile(path, line({ id: 'b1', deviceId: 'd1', count: 10, durableAt: 1000 }) + line({ id: 's1', deviceId: 'd1', count: 1, durableAt: 1001, kind: 'summary-1m' }));
        const partial = line({ id: 'b2', deviceId: 'd1', count: 5, durableAt: 1002 });
        await appendFile(path, partial.slice(0, 12));
        const t = new IndexTail(path);
        await t.poll();
        assert.deepEqual([t.batches, t.readings, t.summaries], [1, 10, 1]);
        await appendFile(path, partial.slice(12) + line({ id: 's2', deviceId: 'd1', count: 1, durableAt: 1003, kind: 'summary-1h' }));
        await t.poll();
        assert.deepEqual([t.batches, t.readings, t.summaries, t.lastDurableAt], [2, 15, 2, 1002]);
        assert.equal(t.durableAt.get('b2'), 1002);
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    });
  });
});
