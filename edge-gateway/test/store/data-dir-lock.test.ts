import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DataDirLock, DataDirLockedError, Gateway, isLockLive, processStartTime, readLock } from '../../src/index.js';
import { memoryLogger, TEST_SCRYPT, tempDir } from '../helpers.js';

const PASS = 'lock test passphrase';

/** A pid that was alive a moment ago and is not now. */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', '0']);
  const pid = child.pid!;
  await new Promise((r) => child.once('exit', r));
  return pid;
}

describe('one writer per data directory', function () {
  this.timeout(20_000);

  it('a second gateway on the same directory is refused with the holder named, and may start once the first stops', async () => {
    const t = await tempDir();
    try {
      const gw1 = await Gateway.start({ dataDir: t.dir, passphrase: PASS, scrypt: TEST_SCRYPT, logger: memoryLogger().logger });
      await assert.rejects(Gateway.start({ dataDir: t.dir, passphrase: PASS, scrypt: TEST_SCRYPT, logger: memoryLogger().logger }),
        (e: Error) => e instanceof DataDirLockedError && e.message.includes(`pid ${process.pid}`) && /vitalgate gateway/.test(e.message));
      const lock = await readLock(t.dir);
      assert.equal(lock?.pid, process.pid);
      assert.equal(lock?.startTime, processStartTime(process.pid));
      await gw1.stop();
      assert.equal(await readLock(t.dir), undefined, 'the lock goes with the gateway');
      const gw2 = await Gateway.start({ dataDir: t.dir, passphrase: PASS, scrypt: TEST_SCRYPT, logger: memoryLogger().logger });
      await gw2.stop();
    } finally {
      await t.cleanup();
    }
  });

  it('takes over a stale lock: a dead pid, a reused pid (same pid, other start time), a torn lock file', async () => {
    const t = await tempDir();
    try {
      const stale = [
        { pid: await deadPid(), startTime: 1, purpose: 'gateway', since: 1 },
        { pid: process.pid, startTime: (processStartTime(process.pid) ?? 0) + 12345, purpose: 'gateway', since: 1 },
      ];
      for (const info of stale) {
        assert.equal(isLockLive(info), false);
        await writeFile(join(t.dir, 'lock'), JSON.stringify(info));
        const lock = await DataDirLock.acquire(t.dir, 'test');
        assert.equal(JSON.parse(await readFile(join(t.dir, 'lock'), 'utf8')).purpose, 'test');
        await lock.release();
      }
      await writeFile(join(t.dir, 'lock'), '{"pid":12');
      const lock = await DataDirLock.acquire(t.dir, 'test');
      await lock.release();
    } finally {
      await t.cleanup();
    }
  });

  it('a live lock of another process is respected', async () => {
    const t = await tempDir();
    const child = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 20000)']);
    try {
      await new Promise((r) => setTimeout(r, 200));
      await writeFile(join(t.dir, 'lock'), JSON.stringify({ pid: child.pid, startTime: processStartTime(child.pid!), purpose: 'keys recover', since: Date.now() }));
      await assert.rejects(DataDirLock.acquire(t.dir, 'gateway'), (e: Error) => e instanceof DataDirLockedError && /vitalgate keys recover/.test(e.message));
    } finally {
      child.kill('SIGKILL');
      await t.cleanup();
    }
  });
});
