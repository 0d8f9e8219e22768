/**
 * Why a Consent or Registry call failed, in words: the custom error it reverted with (decoded with
 * either contract's ABI), or the node's own reason (no funds for gas…).
 */
import type { ContractTransactionResponse, Result } from 'ethers';
import { Consent__factory, Registry__factory } from './generated/typechain/index.js';
import { MAX_EXPIRY } from './ids.js';

const consentIface = Consent__factory.createInterface();
const registryIface = Registry__factory.createInterface();

/** The custom error a failed call reverted with, decoded with the Consent or Registry ABI. */
export function decodeRevert(e: unknown): { name: string; args: Result } | undefined {
  const seen = new Set<unknown>();
  const candidates: string[] = [];
  const walk = (x: unknown, depth: number): void => {
    if (depth > 5 || x === null || typeof x !== 'object' || seen.has(x)) return;
    seen.add(x);
    const data = (x as { data?: unknown }).data;
    if (typeof data === 'string' && /^0x[0-9a-fA-F]{8}/.test(data)) candidates.push(data);
    for (const k of ['error', 'info', 'cause', 'data']) walk((x as Record<string, unknown>)[k], depth + 1);
  };
  walk(e, 0);
  for (const data of candidates) {
    for (const iface of [consentIface, registryIface]) {
      try {
        const d = iface.parseError(data);
        if (d) return { name: d.name, args: d.args };
      } catch { /* not this interface's */ }
    }
  }
  return undefined;
}

/** Who a consent transaction was about, to name them in the explanation. */
export interface ConsentErrorContext { patientId: string; patientAddress: string; grantee: string; payer: string; registerHint: boolean }

/** Seconds since 1970 as ISO 8601; the largest expiry is "never". */
export const expiryIso = (seconds: number | bigint): string => {
  const n = Number(seconds);
  return n >= MAX_EXPIRY ? 'never' : new Date(n * 1000).toISOString();
};

/** A clear message for a failed consent transaction. */
export function explainConsentError(e: unknown, c: ConsentErrorContext): Error {
  const r = decodeRevert(e);
  const who = `${c.patientId} (${c.patientAddress})`;
  if (r) {
    switch (r.name) {
      case 'InvalidGrantee':
        return new Error(`${c.grantee} is not a registered clinician or care team${c.registerHint ? ' (on the embedded dev chain, --register-clinician registers it)' : ''}`);
      case 'NotPatient': return new Error(`patient ${who} is not registered on chain`);
      case 'NoGrant': return new Error(`no grant from ${c.patientId} to ${c.grantee} to revoke`);
      case 'InvalidStreams': return new Error(`invalid streams bitmask 0x${Number(r.args[0]).toString(16)}`);
      case 'InvalidDataWindow': return new Error(`the data window is empty: --from ${r.args[0]} ms is after --until ${r.args[1]} ms`);
      case 'InvalidExpiry': return new Error(`the expiry ${expiryIso(r.args[0] as bigint)} is not in the future (chain time)`);
      case 'PurposeRequired': return new Error('a purpose is required (--purpose)');
      case 'ExpiredDeadline': return new Error(`the signature's deadline ${expiryIso(r.args[0] as bigint)} has passed; sign again`);
      case 'InvalidSignature': return new Error(`the consent signature is not ${who}'s`);
      case 'InvalidAccountNonce': return new Error(`the signature's nonce is used or out of order (${c.patientId}'s next nonce is ${r.args[1]}); sign again`);
      case 'AccessControlUnauthorizedAccount': return new Error(`${r.args[0]} lacks the role ${r.args[1]} for this call`);
      default: return new Error(`the contract refused: ${r.name}(${[...r.args].join(', ')})`);
    }
  }
  const err = e as { code?: string; shortMessage?: string; message?: string };
  if (err.code === 'INSUFFICIENT_FUNDS' || /insufficient funds/i.test(err.message ?? '')) {
    return new Error(`${c.payer} has no ETH to pay for the gas${c.payer === c.patientAddress ? ' (the patient\'s account: use --gasless to have a relayer pay)' : ''}`);
  }
  return new Error(err.shortMessage ?? err.message ?? String(e));
}

/** Sends a consent transaction and waits for it; a failure is thrown as explainConsentError's message. */
export async function sendConsentTx(
  tx: () => Promise<ContractTransactionResponse>, c: ConsentErrorContext,
): Promise<{ hash: string; block: number; gasUsed: number; from: string }> {
  try {
    const sent = await tx();
    const receipt = await sent.wait();
    if (!receipt) throw new Error(`transaction ${sent.hash} has no receipt`);
    return { hash: receipt.hash, block: receipt.blockNumber, gasUsed: Number(receipt.gasUsed), from: receipt.from };
  } catch (e) {
    throw explainConsentError(e, c);
  }
}
