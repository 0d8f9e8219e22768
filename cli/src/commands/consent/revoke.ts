/** `vitalgate consent revoke`: a patient revokes its grant to a clinician or care team. */
import type { Command } from 'commander';
import { chainNow, consentDomain, sendConsentTx, signRevoke, type ConsentErrorContext } from '@vitalgate/contracts';
import { CHAIN_HELP, patientOptions, requireAddress, requirePatientId, type RevokeOpts } from './options.js';
import { topUp, withPatient } from './session.js';

export function registerRevoke(consent: Command): void {
  patientOptions(consent.command('revoke'))
    .description('revoke the patient\'s grant to a clinician or care team (access ends with the block that records it)')
    .option('--to <address>', 'the grantee whose grant is revoked (required; 0x address)')
    .option('--gasless', 'the patient signs an EIP-712 revocation and a relayer submits it (revokeBySig) and pays the gas')
    .option('--json', 'print the revocation and its transaction as one JSON object')
    .addHelpText('after', CHAIN_HELP)
    .action(async (o: RevokeOpts) => {
      requirePatientId(o.patient);
      const to = requireAddress('--to', o.to);
      const result = await withPatient(o, async (s) => {
        const relayer = o.gasless ? (s.admin ?? s.link.wallet) : s.patient;
        const ctx: ConsentErrorContext = { patientId: s.patientId, patientAddress: s.patient.address, grantee: to, payer: relayer.address, registerHint: false };
        if (!(await s.contracts.registry.isPatient(s.patient.address))) {
          throw new Error(`no grant from ${s.patientId} to ${to} to revoke (${s.patientId} is not registered on chain)`);
        }
        let tx;
        if (o.gasless) {
          const consentC = s.contracts.consent;
          const nonce = await consentC.nonces(s.patient.address);
          const deadline = (await chainNow(s.provider)) + 3600;
          const signature = await signRevoke(s.patient, consentDomain(s.deployment.chainId, s.deployment.contracts.Consent), {
            patient: s.patient.address, grantee: to, nonce, deadline,
          });
          tx = await sendConsentTx(() => consentC.connect(relayer).revokeBySig(s.patient.address, to, nonce, deadline, signature), ctx);
        } else {
          await topUp(s, s.patient.address);
          tx = await sendConsentTx(() => s.contracts.consent.connect(s.patient).revoke(to), ctx);
        }
        return {
          action: 'revoke', patient: s.patientId, patientAddress: s.patient.address, grantee: to,
          bySignature: !!o.gasless, tx: tx.hash, block: tx.block, gasUsed: tx.gasUsed, paidBy: tx.from,
        };
      });
      if (o.json) {
        process.stdout.write(JSON.stringify(result) + '\n');
      } else {
        process.stdout.write(
          `revoked ${result.patient}'s grant to ${result.grantee}\n`
          + `  tx ${result.tx} (block ${result.block}), ${result.gasUsed.toLocaleString('en-US')} gas paid by `
          + (result.bySignature ? `the relayer ${result.paidBy}: the patient signed (EIP-712) and paid nothing\n` : `the patient (${result.paidBy})\n`),
        );
      }
    });
}
