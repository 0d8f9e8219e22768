/**
 * A clinician's key file, as `vitalgate clinicians add --generate` writes it and `vitalgate fetch`
 * reads it: two secp256k1 secret keys, one to sign in (SIWE; the clinician's chain account) and one
 * to open key envelopes (its public half is Registry.encryptionKeyOf). Two keys, not one: the
 * encryption key never signs anything, and the account key never decrypts.
 *
 *   {"v": 1, "address": "0x…", "accountKey": "0x" + 64 hex, "encryptionKey": "0x" + 64 hex,
 *    "encryptionPublicKey": "0x" + 66 hex (compressed)}
 *
 * The file is written 0600 and refused when others can read it, as ssh refuses a private key. It is
 * meant for demos, tests and command-line use; a clinician at a browser signs with its own wallet.
 */
import { chmodSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { getAddress, hexlify, Wallet } from 'ethers';
import { envelopePublicKey, randomEnvelopeSecretKey } from '@vitalgate/protocol';

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

const HEX32 = /^0x[0-9a-fA-F]{64}$/;

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
  let j: Record<string, unknown>;
  try {
    j = JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
  } catch (e) {
    throw new Error(`${path} is not a clinician key file: ${(e as Error).message}`);
  }
  if (j.v !== 1) throw new Error(`${path}: unknown key file version ${JSON.stringify(j.v)} (expected 1)`);
  if (typeof j.accountKey !== 'string' || !HEX32.test(j.accountKey)) throw new Error(`${path}: accountKey must be 0x and 64 hex digits`);
  if (typeof j.encryptionKey !== 'string' || !HEX32.test(j.encryptionKey)) throw new Error(`${path}: encryptionKey must be 0x and 64 hex digits`);
  const account = new Wallet(j.accountKey);
  if (typeof j.address === 'string' && getAddress(j.address) !== account.address) throw new Error(`${path}: address ${j.address} is not the account of accountKey (${account.address})`);
  const encryptionKey = Uint8Array.from(Buffer.from(j.encryptionKey.slice(2), 'hex'));
  let encryptionPublicKey: Uint8Array;
  try {
    encryptionPublicKey = envelopePublicKey(encryptionKey);
  } catch {
    throw new Error(`${path}: encryptionKey is not a valid secp256k1 secret key`);
  }
  return { address: account.address, accountKey: account.privateKey, encryptionKey, encryptionPublicKey };
}
