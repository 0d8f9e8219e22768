/**
 * EIP-712 consents: what a patient signs so that anyone can relay its grant (Consent.grantBySig) or
 * revocation (Consent.revokeBySig) and pay the gas. Sign with ethers' `signer.signTypedData(domain,
 * types, message)`; the helpers below fill in the domain and types.
 *
 * Domain: { name: "Vitalgate Consent", version: "1", chainId, verifyingContract: Consent address }.
 * Types (the contract's CONSENT_TYPEHASH / REVOKE_TYPEHASH):
 *   Consent(address patient,address grantee,uint16 streams,uint48 dataFrom,uint48 dataUntil,uint40 expiry,string purpose,uint256 nonce,uint256 deadline)
 *   Revoke(address patient,address grantee,uint256 nonce,uint256 deadline)
 * Units: dataFrom/dataUntil ms (inclusive window); expiry and deadline seconds (block.timestamp).
 * `nonce` is Consent.nonces(patient), shared by both types; each signature is usable once.
 */
import type { BigNumberish, TypedDataDomain, TypedDataField } from 'ethers';

export const CONSENT_DOMAIN_NAME = 'Vitalgate Consent';
export const CONSENT_DOMAIN_VERSION = '1';

export const CONSENT_TYPES: Record<string, TypedDataField[]> = {
  Consent: [
    { name: 'patient', type: 'address' },
    { name: 'grantee', type: 'address' },
    { name: 'streams', type: 'uint16' },
    { name: 'dataFrom', type: 'uint48' },
    { name: 'dataUntil', type: 'uint48' },
    { name: 'expiry', type: 'uint40' },
    { name: 'purpose', type: 'string' },
    { name: 'nonce', type: 'uint256' },
    { name: 'deadline', type: 'uint256' },
  ],
};

export const REVOKE_TYPES: Record<string, TypedDataField[]> = {
  Revoke: [
    { name: 'patient', type: 'address' },
    { name: 'grantee', type: 'address' },
    { name: 'nonce', type: 'uint256' },
    { name: 'deadline', type: 'uint256' },
  ],
};

export interface ConsentMessage {
  patient: string;
  grantee: string;
  /** Bitmask of stream ids, bit (1 << id). */
  streams: BigNumberish;
  /** ms since the Unix epoch, inclusive. */
  dataFrom: BigNumberish;
  /** ms since the Unix epoch, inclusive. */
  dataUntil: BigNumberish;
  /** s since the Unix epoch; the grant is active while block.timestamp < expiry. */
  expiry: BigNumberish;
  purpose: string;
  /** Consent.nonces(patient). */
  nonce: BigNumberish;
  /** s since the Unix epoch; the signature is usable while block.timestamp <= deadline. */
  deadline: BigNumberish;
}

export interface RevokeMessage {
  patient: string;
  grantee: string;
  nonce: BigNumberish;
  deadline: BigNumberish;
}

/** The EIP-712 domain of the Consent contract at `consentAddress` on `chainId`. */
export function consentDomain(chainId: BigNumberish, consentAddress: string): TypedDataDomain {
  return { name: CONSENT_DOMAIN_NAME, version: CONSENT_DOMAIN_VERSION, chainId, verifyingContract: consentAddress };
}

/** Anything that signs typed data: an ethers Wallet or JsonRpcSigner. */
export interface TypedDataSigner {
  signTypedData(
    domain: TypedDataDomain,
    types: Record<string, TypedDataField[]>,
    value: Record<string, unknown>,
  ): Promise<string>;
}

/** The patient's signature of a Consent, for Consent.grantBySig. */
export function signConsent(signer: TypedDataSigner, domain: TypedDataDomain, message: ConsentMessage): Promise<string> {
  return signer.signTypedData(domain, CONSENT_TYPES, { ...message });
}

/** The patient's signature of a Revoke, for Consent.revokeBySig. */
export function signRevoke(signer: TypedDataSigner, domain: TypedDataDomain, message: RevokeMessage): Promise<string> {
  return signer.signTypedData(domain, REVOKE_TYPES, { ...message });
}
