/** Where a gateway keeps its state inside its data directory. */
import { join } from 'node:path';

export interface DataDirLayout {
  root: string;
  keys: string;
  store: string;
  index: string;
  epochs: string;
  anchors: string;
}

export function dataDirLayout(root: string): DataDirLayout {
  return {
    root,
    keys: join(root, 'keys'),
    store: join(root, 'store'),
    index: join(root, 'index.jsonl'),
    epochs: join(root, 'epochs.jsonl'),
    anchors: join(root, 'anchors.jsonl'),
  };
}
