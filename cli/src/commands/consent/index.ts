/**
 * `vitalgate consent grant|revoke|list|end-break-glass|cancel-signatures`: a patient manages who may
 * read its streams, on the gateway's chain (the Consent contract). The patient's chain key is the
 * sealed secret `eth-patient-<id>` in the gateway keystore; on the embedded development chain the
 * patient (and, on request, the grantee) is registered with anvil's dev admin key, which also relays
 * `--gasless` consents. Consent history and revert reasons live in @vitalgate/contracts.
 */
import type { Command } from 'commander';
import { registerGrant } from './grant.js';
import { registerList } from './list.js';
import { registerRevoke } from './revoke.js';
import { registerCancelSignatures, registerEndBreakGlass } from './sessions.js';

export function registerConsent(program: Command): void {
  const consent = program
    .command('consent')
    .description('a patient grants, revokes and lists access to its streams on the gateway\'s chain (the Consent contract)');
  registerGrant(consent);
  registerRevoke(consent);
  registerEndBreakGlass(consent);
  registerCancelSignatures(consent);
  registerList(consent);
}
