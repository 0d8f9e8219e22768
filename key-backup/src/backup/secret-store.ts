/**
 * What backup and restore need of wherever patient master secrets are kept: read one, write one,
 * and a place to name in messages. The gateway's Keystore satisfies it as it is; a test can pass a Map.
 */
export interface SecretStore {
  /** Where the secrets are kept (a keystore's directory), named in error messages. */
  readonly dir: string;
  /** The patient's master secret, or undefined when the store holds none for the patient. */
  get(patientId: string): Promise<Uint8Array | undefined>;
  /** Stores the patient's master secret (sealed, durably: the store's business). */
  put(patientId: string, secret: Uint8Array): Promise<unknown>;
}
