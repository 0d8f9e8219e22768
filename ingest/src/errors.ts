/**
 * Every refusal is a 4xx with a JSON body naming the problem: {"error": code, "message": text}.
 * `code` is stable (clients and tests branch on it); `message` is for people and never holds a
 * secret or a reading.
 */
export class IngestError extends Error {
  constructor(readonly statusCode: number, readonly code: string, message: string) {
    super(message);
    this.name = 'IngestError';
  }
}

export const refuse = (statusCode: number, code: string, message: string): IngestError => new IngestError(statusCode, code, message);
