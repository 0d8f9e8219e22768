/**
 * Sign-in through an injected wallet (EIP-1193, e.g. a browser extension): the wallet holds the
 * account key and signs the SIWE message (personal_sign); this page never sees that key. The
 * encryption key, which no wallet exposes, still comes from the clinician's key file.
 */
export interface Eip1193 { request(args: { method: string; params?: unknown[] }): Promise<unknown> }

export function injectedWallet(): Eip1193 | undefined {
  const e = (window as unknown as { ethereum?: Eip1193 }).ethereum;
  return e && typeof e.request === 'function' ? e : undefined;
}

const hexUtf8 = (s: string) => `0x${Array.from(new TextEncoder().encode(s), (b) => b.toString(16).padStart(2, '0')).join('')}`;

/** The wallet's selected account, as a signer the SIWE sign-in can use. */
export async function walletSigner(w: Eip1193): Promise<{ address: string; signMessage(m: string): Promise<string> }> {
  const accounts = (await w.request({ method: 'eth_requestAccounts' })) as string[];
  const address = accounts[0];
  if (!address) throw new Error('the wallet gave no account');
  return { address, signMessage: async (m) => (await w.request({ method: 'personal_sign', params: [hexUtf8(m), address] })) as string };
}
