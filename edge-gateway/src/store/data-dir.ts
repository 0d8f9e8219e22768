/** Where a gateway keeps its state inside its data directory. */
import { join } from 'node:path';

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
