/**
 * A JSON-RPC provider suited to a chain that mines a block per transaction (anvil's automine).
 *
 * ethers v6 shares identical requests made within 250 ms (`cacheTimeout`), so a second transaction
 * sent right after the first is mined reads the same cached 'pending' nonce and fails with "nonce too
 * low". This provider turns that cache off, polls receipts every 100 ms instead of 4 s, and, given the
 * chain id, skips network detection.
 */
import { JsonRpcProvider, Network } from 'ethers';

export function createProvider(url: string, chainId?: number): JsonRpcProvider {
  return new JsonRpcProvider(url, chainId === undefined ? undefined : Network.from(chainId), {
    cacheTimeout: -1,
    pollingInterval: 100,
    ...(chainId === undefined ? {} : { staticNetwork: true }),
  });
}
