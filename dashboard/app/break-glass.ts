/**
 * Break-glass from the dashboard: the clinician's own account calls Consent.breakGlass on chain
 * (signed here, sent through the chain's JSON-RPC; ingest is not involved), with a reason code from
 * the contract's fixed set and mandatory text. The patient sees it (gateway notice, audit), and
 * every use after the first counts toward a ban.
 */
import type { ChainConfig } from './proof.js';

export { BREAK_GLASS_REASONS as REASON_CODES } from '@vitalgate/protocol';

const ABI = ['function breakGlass(address patient, uint8 reasonCode, string reason, uint40 duration) returns (uint40)'];

export async function breakGlass(chain: ChainConfig, accountKey: string, patient: string, reasonCode: number, reason: string, minutes: number): Promise<void> {
  // A transaction (nonce, fees, signing, receipt) is ethers' job; loaded here, on first use, so that
  // signing in and drawing never wait for it (it is over half of the page's code).
  const { BaseWallet, Contract, JsonRpcProvider, SigningKey } = await import('ethers');
  const signer = new BaseWallet(new SigningKey(accountKey), new JsonRpcProvider(chain.rpcUrl, chain.chainId, { staticNetwork: true }));
  const consent = new Contract(chain.consent, ABI, signer);
  const tx = await consent.getFunction('breakGlass')(patient, reasonCode, reason, Math.round(minutes * 60));
  await tx.wait();
}
