/** Where a gateway keeps its state inside its data directory. */
import { access } from 'node:fs/promises';
import { join, resolve } from 'node:path';

export interface DataDirLayout {
  root: string;
  keys: string;
  store: string;
  index: string;
  epochs: string;
  anchors: string;
  /** The gateway's chain account (public address only), for keyless tools such as verify. */
  account: string;
  /** Batches ingest has confirmed (the upload spool is the index minus these). */
  uploads: string;
  /** Key envelopes issued to clinicians (public: only each grantee can open its own). */
  envelopes: string;
}

export function dataDirLayout(root: string): DataDirLayout {
  return {
    root,
    keys: join(root, 'keys'),
    store: join(root, 'store'),
    index: join(root, 'index.jsonl'),
    epochs: join(root, 'epochs.jsonl'),
    anchors: join(root, 'anchors.jsonl'),
    account: join(root, 'gateway-account.json'),
    uploads: join(root, 'uploads.jsonl'),
    envelopes: join(root, 'envelopes.jsonl'),
  };
}

/**
 * A read command pointed at a directory that holds no gateway data. Read commands never create
 * state, so they stop here (exit status 1) instead of making an empty data directory.
 */
export class NoDataDirError extends Error {
  readonly exitCode = 1;
  constructor(readonly dir: string) {
    super([
      `no Vitalgate data directory at ${resolve(dir)}: no store, batch index or keystore there (nothing was read or created).`,
      '  A gateway makes one as it runs: `npm start` or `vitalgate start` (into ./.vitalgate), `vitalgate run --data-dir DIR`, `vitalgate gateway --data-dir DIR`.',
      '  Or point --data-dir at an existing one.',
    ].join('\n'));
    this.name = 'NoDataDirError';
  }
}

/** Resolves when `dir` holds gateway data (a store, batch index, anchor log or keystore); else NoDataDirError. */
export async function assertDataDir(dir: string): Promise<void> {
  const d = dataDirLayout(dir);
  for (const p of [d.index, d.store, d.anchors, join(d.keys, 'keystore.json')]) {
    try {
      await access(p);
      return;
    } catch { /* not this one */ }
  }
  throw new NoDataDirError(dir);
}
