/**
 * Where ingest keeps ciphertext. Objects are immutable and named by their content (a batch by its
 * id, the SHA-256 of its bytes), so a second PUT of the same bytes is a no-op and a different body
 * can never replace one.
 */
export interface ObjectStore {
  /** Stores `bytes` under `key` durably; resolves `false` when an object with that key already exists. */
  put(key: string, bytes: Uint8Array): Promise<boolean>;
  /** The object's bytes, or undefined when there is none. */
  get(key: string): Promise<Uint8Array | undefined>;
  /** Keys at any depth under `prefix` (which ends with "/"), as S3 lists them, in ascending order, after `after`, at most `limit`. */
  list(prefix: string, after: string | undefined, limit: number): Promise<string[]>;
  /** A short description for logs and `--help` (no credentials). */
  describe(): string;
}

/**
 * Keys are "batches/{patient account}/{id}". The patient is named by their chain account, not the
 * gateway's local patient id: ids are only unique within one gateway (two hospitals may both have
 * "patient-0001"), while the account is unique and is what ingest checks the uploader against
 * (Registry `gatewayOf`). So a gateway can only ever write under its own patients.
 */
export const batchKey = (patientAccount: string, id: string): string => `batches/${patientAccount}/${id}`;
