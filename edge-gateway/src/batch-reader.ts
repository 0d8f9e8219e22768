/**
 * Reads a gateway's store back: every sealed batch is checked against its content address, parsed,
 * and opened with the epoch key derived from its patient's master secret. Batches are found by
 * walking the store, not the index, so a batch the index missed is still read.
 */
import {
  batchId, deriveEpochKey, openBatch, parseBatch, type BatchHeader, type ReadingBody,
} from '@vitalgate/protocol';
import { dataDirLayout } from './data-dir.js';
import { Keystore } from './keystore.js';
import { LocalObjectStore } from './object-store.js';

export type OpenedBatch =
  | { id: string; ok: true; header: BatchHeader; bodies: ReadingBody[] }
  | { id: string; ok: false; header?: BatchHeader; reason: string };

export async function* readStore(dataDir: string, passphrase: string): AsyncGenerator<OpenedBatch> {
  const dirs = dataDirLayout(dataDir);
  const keystore = await Keystore.open(dirs.keys, passphrase);
  const store = new LocalObjectStore(dirs.store);
  for (const id of await store.list()) {
    let bytes: Uint8Array;
    try {
      bytes = await store.get(id);
    } catch (e) {
      yield { id, ok: false, reason: `unreadable: ${(e as Error).message}` };
      continue;
    }
    if (batchId(bytes) !== id) {
      yield { id, ok: false, reason: 'content does not hash to its id: the file was altered' };
      continue;
    }
    const parsed = parseBatch(bytes);
    if (!parsed.ok) {
      yield { id, ok: false, reason: parsed.reason };
      continue;
    }
    const { header } = parsed.value;
    let pms: Uint8Array | undefined;
    try {
      pms = await keystore.get(header.patientId);
    } catch (e) {
      yield { id, ok: false, header, reason: (e as Error).message };
      continue;
    }
    if (!pms) {
      yield { id, ok: false, header, reason: `no master secret for patient ${header.patientId} in this keystore` };
      continue;
    }
    const opened = openBatch(deriveEpochKey(pms, header.patientId, header.stream, header.epoch), parsed.value);
    yield opened.ok ? { id, ok: true, header, bodies: opened.value } : { id, ok: false, header, reason: opened.reason };
  }
}
