import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import assert from 'node:assert/strict';
import pino from 'pino';
import { readStore, type OpenedBatch, type ScryptParams } from '../src/index.js';

/** Cheap KDF for tests only: the format and code path are the same, the cost is not. */
export const TEST_SCRYPT: ScryptParams = { N: 2 ** 10, r: 8, p: 1 };

export async function tempDir(prefix = 'vg-test-'): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

/** A logger that keeps its records, so tests can assert what was logged. */
export function memoryLogger(): { logger: pino.Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const logger = pino({ level: 'debug' }, { write: (s: string) => void lines.push(JSON.parse(s) as Record<string, unknown>) });
  return { logger, lines };
}

/** Every reading sequence number in the store, sorted (a batch that does not open fails the test). */
export async function sealedSeqs(dataDir: string, passphrase: string): Promise<number[]> {
  const out: number[] = [];
  for await (const b of readStore(dataDir, passphrase) as AsyncGenerator<OpenedBatch>) {
    assert.ok(b.ok, `batch ${b.id} did not open: ${b.ok ? '' : b.reason}`);
    out.push(...b.bodies.map((x) => x.seq));
  }
  return out.sort((a, b) => a - b);
}
