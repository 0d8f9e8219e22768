/**
 * Restore: puts a recovered master secret into a secret store (the gateway keystore), never over a
 * different one.
 */
import { equalBytes } from '@noble/ciphers/utils.js';
import { assertValidId, PMS_BYTES } from '@vitalgate/protocol';
import { vaultMatchesSecret, type FuzzyVault } from '../vault/fuzzy-vault.js';
import { KeyBackupError } from './document.js';
import type { SecretStore } from './secret-store.js';

/**
 * Puts a recovered PMS into a keystore. Idempotent when the keystore already holds the same secret
 * (compared in constant time); refuses, with KeyBackupError 'different-secret', to replace a
 * different one. Pass the vault to have the secret checked against its hash first.
 */
export async function restoreIntoKeystore(keystore: SecretStore, patientId: string, secret: Uint8Array, vault?: FuzzyVault): Promise<{ written: boolean }> {
  assertValidId('patient', patientId);
  if (!(secret instanceof Uint8Array) || secret.length !== PMS_BYTES) throw new KeyBackupError(`a patient master secret is ${PMS_BYTES} bytes`, 'bad-secret');
  if (vault && !vaultMatchesSecret(vault, secret)) throw new KeyBackupError('the secret does not match the vault\'s hash; nothing written', 'not-verified');
  const existing = await keystore.get(patientId);
  if (existing) {
    if (equalBytes(existing, secret)) return { written: false };
    throw new KeyBackupError(
      `the keystore at ${keystore.dir} already holds a different master secret for patient ${patientId}; refusing to overwrite it ` +
        '(data sealed under it would become unreadable). Recover into an empty data directory, or move that patient\'s sealed secret aside first.',
      'different-secret',
    );
  }
  await keystore.put(patientId, secret);
  return { written: true };
}
