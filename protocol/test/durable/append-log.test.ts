/**
 * The shared append-only log: a torn last record is cut off on open and only that record is lost;
 * sequence numbers are written, so damage in the middle shifts no other record's number.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { AppendLog, readLog } from '../../src/durable/index.js';

async function tempDir(prefix = 'vg-test-'): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

interface Rec { name: string; n: number }

describe('append-only log', () => {
  it('a torn last record, cut at every byte offset, is the only record lost; appends go on with the next number', async () => {
    const t = await tempDir();
    try {
      const path = join(t.dir, 'log.jsonl');
      const { log } = await AppendLog.open<Rec>(path);
      assert.deepEqual(await log.append([{ name: 'a', n: 1 }, { name: 'b', n: 2 }]), [0, 1]);
      await log.append([{ name: 'c', n: 3 }]);
      await log.close();
      const full = await readFile(path);
      const lastStart = full.lastIndexOf(0x0a, full.length - 2) + 1;
      for (let cut = lastStart; cut < full.length; cut++) {
        await writeFile(path, full.subarray(0, cut));
        const { log: l, entries, tornBytes } = await AppendLog.open<Rec>(path);
        const whole = cut === full.length - 1; // only the newline is missing: the record is whole
        assert.deepEqual(entries.map((e) => [e.lsn, e.value.name]), whole ? [[0, 'a'], [1, 'b'], [2, 'c']] : [[0, 'a'], [1, 'b']], `cut at ${cut}`);
        assert.equal(tornBytes, whole ? 0 : cut - lastStart, `cut at ${cut}`);
        assert.deepEqual(await l.append([{ name: 'd', n: 4 }]), [whole ? 3 : 2]);
        await l.close();
        const again = await readLog<Rec>(path);
        assert.deepEqual(again.entries.map((e) => e.value.name), whole ? ['a', 'b', 'c', 'd'] : ['a', 'b', 'd'], `cut at ${cut}`);
        assert.equal(again.tornBytes + again.damagedLines, 0, `cut at ${cut}: the repaired file is clean`);
      }
    } finally {
      await t.cleanup();
    }
  });

  it('concurrent appends get distinct, increasing numbers and all read back', async () => {
    const t = await tempDir();
    try {
      const path = join(t.dir, 'log.jsonl');
      const { log } = await AppendLog.open<Rec>(path);
      const lsns = await Promise.all(Array.from({ length: 20 }, (_, i) => log.append([{ name: `r${i}`, n: i }])));
      await log.close();
      assert.deepEqual(lsns.flat().sort((a, b) => a - b), Array.from({ length: 20 }, (_, i) => i));
      const r = await readLog<Rec>(path);
      assert.equal(r.damagedLines, 0);
      assert.equal(r.entries.length, 20);
    } finally {
      await t.cleanup();
    }
  });

  it('a damaged line in the middle is skipped and counted; no other record changes number', async () => {
    const t = await tempDir();
    try {
      const path = join(t.dir, 'log.jsonl');
      const { log } = await AppendLog.open<Rec>(path);
      await log.append([{ name: 'a', n: 1 }, { name: 'b', n: 2 }, { name: 'c', n: 3 }]);
      await log.close();
      const lines = (await readFile(path, 'utf8')).split('\n');
      lines[1] = lines[1]!.slice(0, 7) + '\u0000garbage';
      await writeFile(path, lines.join('\n'));
      const { log: l, entries, damagedLines } = await AppendLog.open<Rec>(path);
      assert.equal(damagedLines, 1);
      assert.deepEqual(entries.map((e) => [e.lsn, e.value.name]), [[0, 'a'], [2, 'c']]);
      assert.deepEqual(await l.append([{ name: 'd', n: 4 }]), [3]);
      await l.close();
    } finally {
      await t.cleanup();
    }
  });

  it('a failed append is cut back, so the next append is not glued to half a record', async () => {
    const t = await tempDir();
    try {
      const path = join(t.dir, 'log.jsonl');
      const { log } = await AppendLog.open<Rec>(path);
      await log.append([{ name: 'a', n: 1 }]);
      // A value JSON cannot hold fails before any byte is written; a partial write is simulated by
      // appending half a record behind the log's back, as a full disk would leave it.
      await assert.rejects(log.append([{ name: 'x', n: 10n as unknown as number }]), /BigInt/);
      await log.append([{ name: 'b', n: 2 }]);
      await log.close();
      assert.deepEqual((await readLog<Rec>(path)).entries.map((e) => [e.lsn, e.value.name]), [[0, 'a'], [1, 'b']]);
      const size = (await readFile(path)).length;
      await writeFile(path, '{"lsn":2,"name":"hal', { flag: 'a' });
      const { log: l2, entries, tornBytes } = await AppendLog.open<Rec>(path);
      assert.equal(tornBytes, 20);
      assert.equal(entries.length, 2);
      await l2.append([{ name: 'c', n: 3 }]);
      await l2.close();
      const r = await readLog<Rec>(path);
      assert.deepEqual(r.entries.map((e) => [e.lsn, e.value.name]), [[0, 'a'], [1, 'b'], [2, 'c']]);
      await truncate(path, size);
    } finally {
      await t.cleanup();
    }
  });

  it('property: any bytes at all are read without throwing, and records come back in strictly increasing order', async () => {
    const t = await tempDir();
    try {
      const path = join(t.dir, 'fuzz.jsonl');
      await fc.assert(fc.asyncProperty(fc.uint8Array({ maxLength: 400 }), fc.array(fc.record({ name: fc.string(), n: fc.integer() }, { noNullPrototype: true }), { maxLength: 5 }), async (junk, recs) => {
        await writeFile(path, junk);
        const { log, entries } = await AppendLog.open<Rec>(path);
        for (let i = 1; i < entries.length; i++) assert.ok(entries[i]!.lsn > entries[i - 1]!.lsn);
        await log.append(recs);
        await log.close();
        const r = await readLog<Rec>(path);
        assert.equal(r.tornBytes, 0);
        assert.deepEqual(r.entries.slice(r.entries.length - recs.length).map((e) => e.value), recs);
      }), { numRuns: 200 });
    } finally {
      await t.cleanup();
    }
  });
});
