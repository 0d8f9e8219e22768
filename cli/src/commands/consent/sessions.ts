/**
 * `vitalgate consent end-break-glass` and `cancel-signatures`: a patient ends a clinician's
 * break-glass session, and cancels signed consents nobody has relayed yet.
 */
import type { Command } from 'commander';
import { chainNow, expiryIso, sendConsentTx, type ConsentErrorContext } from '@vitalgate/contracts';
import { CHAIN_HELP, patientOptions, requireAddress, requirePatientId, type PatientOpts } from './options.js';
import { topUp, withPatient } from './session.js';

export function registerEndBreakGlass(consent: Command): void {
  patientOptions(consent.command('end-break-glass'))
    .description('end a clinician\'s break-glass session on the patient\'s data now (the patient may end any session on their own data)')
    .option('--clinician <address>', 'the clinician whose session ends (required; 0x address)')
    .option('--json', 'print the transaction as one JSON object')
    .addHelpText('after', CHAIN_HELP)
    .action(async (o: PatientOpts & { clinician?: string }) => {
      requirePatientId(o.patient);
      const clinician = requireAddress('--clinician', o.clinician);
      const result = await withPatient(o, async (s) => {
        const until = Number(await s.contracts.consent.breakGlassUntil(s.patient.address, clinician));
        const now = await chainNow(s.provider);
        if (until <= now) throw new Error(`${clinician} has no break-glass session on ${s.patientId}'s data${until ? ` (the last one ended ${expiryIso(until)})` : ''}`);
        await topUp(s, s.patient.address);
        const ctx: ConsentErrorContext = { patientId: s.patientId, patientAddress: s.patient.address, grantee: clinician, payer: s.patient.address, registerHint: false };
        const tx = await sendConsentTx(() => s.contracts.consent.connect(s.patient).endBreakGlass(s.patient.address, clinician), ctx);
        return { action: 'end-break-glass', patient: s.patientId, patientAddress: s.patient.address, clinician, wasUntil: expiryIso(until), tx: tx.hash, block: tx.block, gasUsed: tx.gasUsed };
      });
      if (o.json) process.stdout.write(JSON.stringify(result) + '\n');
      else process.stdout.write(`ended ${result.clinician}'s break-glass session on ${result.patient}'s data (it would have run until ${result.wasUntil})\n  tx ${result.tx} (block ${result.block})\n`);
    });
}

export function registerCancelSignatures(consent: Command): void {
  patientOptions(consent.command('cancel-signatures'))
    .description('cancel consents or revocations the patient signed (EIP-712, --gasless) that nobody has relayed yet, by using up their nonces')
    .option('--up-to <nonce>', 'cancel every unrelayed signature with a nonce up to this one (default: the next nonce, i.e. one outstanding signature)')
    .option('--json', 'print the cancelled nonce range and the transaction as one JSON object')
    .addHelpText('after', `
A signed consent can be relayed by anyone until its deadline. Cancelling takes effect in the block
that records it: a relay mined later fails (InvalidAccountNonce). At most 64 nonces per call.
${CHAIN_HELP}`)
    .action(async (o: PatientOpts & { upTo?: string }) => {
      requirePatientId(o.patient);
      const result = await withPatient(o, async (s) => {
        if (!(await s.contracts.registry.isPatient(s.patient.address))) throw new Error(`${s.patientId} is not registered on chain: nothing was signed for it`);
        const next = await s.contracts.consent.nonces(s.patient.address);
        let upTo = next;
        if (o.upTo !== undefined) {
          if (!/^\d+$/.test(o.upTo)) throw new Error(`--up-to ${JSON.stringify(o.upTo)} is not a nonce (a non-negative integer)`);
          upTo = BigInt(o.upTo);
          if (upTo < next) throw new Error(`nonces below ${next} are already used: nothing to cancel up to ${upTo}`);
        }
        await topUp(s, s.patient.address);
        const ctx: ConsentErrorContext = { patientId: s.patientId, patientAddress: s.patient.address, grantee: s.patient.address, payer: s.patient.address, registerHint: false };
        const tx = await sendConsentTx(() => s.contracts.consent.connect(s.patient).cancelNonces(upTo), ctx);
        const after = await s.contracts.consent.nonces(s.patient.address);
        return { action: 'cancel-signatures', patient: s.patientId, patientAddress: s.patient.address, fromNonce: Number(next), toNonce: Number(after) - 1, tx: tx.hash, block: tx.block, gasUsed: tx.gasUsed };
      });
      if (o.json) process.stdout.write(JSON.stringify(result) + '\n');
      else process.stdout.write(`cancelled ${result.patient}'s unrelayed signatures with nonces ${result.fromNonce}..${result.toNonce}\n  tx ${result.tx} (block ${result.block})\n`);
    });
}
