/**
 * A clinician's key file on disk, as `vitalgate clinicians add --generate` writes it and `vitalgate
 * fetch` reads it; the format (two secp256k1 secret keys: one signs in, one opens key envelopes) is
 * protocol/src/clinician-key.ts, shared with the dashboard, which imports the same file.
 *
 * The file is written 0600 and refused when others can read it, as ssh refuses a private key. It is
 * meant for demos, tests and command-line use; a clinician at a browser signs with its own wallet.
 */
import { chmodSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { getAddress, hexlify, Wallet } from 'ethers';
import { envelopePublicKey, parseClinicianKey, randomEnvelopeSecretKey } from '@vitalgate/protocol';

export interface ClinicianKeys {
  address: string;
  accountKey: string;
  encryptionKey: Uint8Array;
  encryptionPublicKey: Uint8Array;
}

export function generateClinicianKeys(): ClinicianKeys {
  const account = Wallet.createRandom();
  const encryptionKey = randomEnvelopeSecretKey();
  return { address: account.address, accountKey: account.privateKey, encryptionKey, encryptionPublicKey: envelopePublicKey(encryptionKey) };
}

/** Writes `keys` to a new file (never over an existing one), readable by its owner only. */
export function writeClinicianKeyFile(path: string, keys: ClinicianKeys): void {
  const body = {
    v: 1, address: keys.address, accountKey: keys.accountKey,
    encryptionKey: hexlify(keys.encryptionKey), encryptionPublicKey: hexlify(keys.encryptionPublicKey),
  };
  writeFileSync(path, JSON.stringify(body, null, 2) + '\n', { mode: 0o600, flag: 'wx' });
  chmodSync(path, 0o600);
}

/** Reads and checks a key file; every problem is an Error that names the file and what is wrong. */
export function readClinicianKeyFile(path: string): ClinicianKeys {
  let st;
  try {
    st = statSync(path);
  } catch {
    throw new Error(`no clinician key file at ${path} (make one with: vitalgate clinicians add --generate ${path})`);
  }
  if (process.platform !== 'win32' && (st.mode & 0o077) !== 0) {
    throw new Error(`${path} is readable by others (mode ${(st.mode & 0o777).toString(8)}): it holds secret keys; chmod 600 ${path}`);
  }
  const r = parseClinicianKey(readFileSync(path, 'utf8'));
  if (!r.ok) throw new Error(`${path}: ${r.reason}`);
  return { address: getAddress(r.value.address), accountKey: hexlify(r.value.accountKey), encryptionKey: r.value.encryptionKey, encryptionPublicKey: r.value.encryptionPublicKey };
}
