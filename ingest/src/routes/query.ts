/** Query parameters shared by the routes, checked with errors that name the parameter. */
import { getAddress, isAddress } from 'ethers';
import { refuse } from '../errors.js';
import type { GatewayDirectory } from '../gateway-directory.js';

export type Query = Record<string, string | undefined>;

export function requireInt(q: Query, name: string): number {
  const v = q[name];
  // Times are Unix milliseconds and callers ask for "up to the end of time" with 2^53 - 1.
  if (v === undefined || !/^\d{1,16}$/.test(v) || !Number.isSafeInteger(Number(v))) {
    throw refuse(400, 'bad-metadata', `query parameter ${name} must be an integer from 0 to ${Number.MAX_SAFE_INTEGER}`);
  }
  return Number(v);
}

/** The patient account named by the request, and a check that the caller is that patient's gateway. */
export async function accountOf(q: Query, gateway: string, directory: GatewayDirectory): Promise<string> {
  const account = q.patientAccount;
  if (account === undefined || !isAddress(account)) throw refuse(400, 'bad-metadata', 'query parameter patientAccount must be the patient\'s 0x account');
  const servedBy = await directory.gatewayOf(account);
  if (servedBy !== gateway) throw refuse(403, 'not-your-patient', `patient account ${getAddress(account)} is not served by ${gateway}`);
  return getAddress(account);
}

