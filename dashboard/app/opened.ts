/** What the decryption worker (decrypt-worker.ts) posts back for one batch. */
import type { BatchKind, SummaryRow } from '@vitalgate/protocol';

export interface Reading { seq: number; ts: number; rate?: number; samples?: number[]; values?: Record<string, number> }

export type Opened =
  | {
    id: string; ok: true; kind: BatchKind; stream: string; deviceId: string; epoch: number;
    /** A readings batch, as readings (live view, scalars). */
    readings?: Reading[];
    /** A readings batch of a waveform, asked for as columns: sample times (s) and values (channel 0). */
    wave?: { t: Float64Array; v: Float32Array };
    /** A summary batch's rows (protocol/src/summary.ts). */
    rows?: SummaryRow[];
  }
  | { id: string; ok: false; reason: string };
