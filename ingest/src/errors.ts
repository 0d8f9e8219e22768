/**
 * Every refusal is a 4xx with a JSON body naming the problem: {"error": code, "message": text}.
 * `code` is stable (clients and tests branch on it); `message` is for people and never holds a
 * secret or a reading.
 */
import { CatalogCollisionError } from './catalog/influx-catalog.js';

export class IngestError extends Error {
  constructor(readonly statusCode: number, readonly code: string, message: string) {
    super(message);
    this.name = 'IngestError';
  }
}

export const refuse = (statusCode: number, code: string, message: string): IngestError => new IngestError(statusCode, code, message);

/**
 * Runs a call to a backing service (object storage, catalog, the chain) so that its failure is a 503
 * naming the service, not a 500: nothing half-done is acknowledged, and the gateway retries.
 */
export async function backing<T>(what: 'storage' | 'catalog' | 'chain', call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (e) {
    if (e instanceof IngestError) throw e;
    // Retrying cannot help here: the batch is stored, and an operator has to widen the schema.
    if (e instanceof CatalogCollisionError) throw new IngestError(409, 'catalog-collision', e.message);
    throw new IngestError(503, `${what}-unavailable`, `${what} could not be reached: ${(e as Error).message.split('\n')[0]!.slice(0, 200)}; nothing was acknowledged, retry`);
  }
}
