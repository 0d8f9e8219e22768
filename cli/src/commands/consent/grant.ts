/** `vitalgate consent grant`: a patient grants a clinician or care team access to its streams. */
import type { Command } from 'commander';
import { ALL_STREAMS, MAX_DATA_TS, MAX_EXPIRY, chainNow, consentDomain, expiryIso, sendConsentTx, signConsent, streamNames, type ConsentErrorContext } from '@vitalgate/contracts';
import { STREAM_NAMES } from '@vitalgate/protocol';
import { CHAIN_HELP, parseDataTime, parseExpiry, parseStreams, patientOptions, requireAddress, requirePatientId, type GrantOpts } from './options.js';
import { placeholderEncryptionKey, topUp, withPatient } from './session.js';

function describeStreams(mask: number): string {
  return mask === ALL_STREAMS ? 'streams (all)' : `streams ${streamNames(mask).join(', ')}`;
}

function describeWindow(from: number, until: number): string {
  if (from === 0 && until === MAX_DATA_TS) return 'of any time';
  if (from === 0) return `up to ${new Date(until).toISOString()}`;
  if (until === MAX_DATA_TS) return `from ${new Date(from).toISOString()} on`;
  return `from ${new Date(from).toISOString()} to ${new Date(until).toISOString()}`;
}

export function registerGrant(consent: Command): void {
  patientOptions(consent.command('grant'))
    .description('grant a registered clinician or care team access to the patient\'s streams (replaces any earlier grant to it)')
    .option('--to <address>', 'the grantee (required): a registered clinician\'s or care team\'s 0x address')
    .option('--streams <list>', `"all" or a comma-separated list of ${STREAM_NAMES.join(', ')}`, 'all')
    .option('--from <time>', 'first reading time covered, inclusive: ISO 8601 or ms since the epoch (default: 0, all past data)')
    .option('--until <time>', 'last reading time covered, inclusive: ISO 8601 or ms since the epoch (default: no end)')
    .option('--expires <when>', 'when the grant ends: a duration from now (30d, 12h, 90m, 2w), an ISO 8601 time, or "never"', '30d')
    .option('--purpose <text>', 'why the grantee may read the data (required; kept on chain in the Granted event), e.g. "treatment"')
    .option('--gasless', 'the patient signs an EIP-712 consent and a relayer submits it (grantBySig) and pays the gas: the patient needs no ETH')
    .option('--register-clinician', 'embedded dev chain only: register the grantee as a clinician first if it is not (with a placeholder encryption key)')
    .option('--json', 'print the grant and its transaction as one JSON object')
    .addHelpText('after', [
      '',
      'Example:',
      '  vitalgate consent grant --patient patient-0001 --to 0x70997970C51812dc3A010C7d01b50e0d17dc79C8 \\',
      '    --streams ecg,hr --from 2026-01-01T00:00:00Z --expires 7d --purpose treatment --gasless',
      CHAIN_HELP,
    ].join('\n'))
    .action(async (o: GrantOpts) => {
      requirePatientId(o.patient);
      const to = requireAddress('--to', o.to);
      const purpose = o.purpose?.trim();
      if (!purpose) throw new Error('--purpose <text> is required: say why the grantee may read the data (e.g. --purpose treatment)');
      const streams = parseStreams(o.streams);
      const dataFrom = o.from === undefined ? 0 : parseDataTime('--from', o.from);
      const dataUntil = o.until === undefined ? MAX_DATA_TS : parseDataTime('--until', o.until);
      if (dataFrom > dataUntil) throw new Error(`the data window is empty: --from (${new Date(dataFrom).toISOString()}) is after --until (${new Date(dataUntil).toISOString()})`);
      const expires = parseExpiry(o.expires);
      if (o.registerClinician && o.chainUrl) throw new Error('--register-clinician needs the embedded dev chain (its admin key); on another chain an admin registers clinicians');

      const result = await withPatient(o, async (s) => {
        const wasRegistered = await s.contracts.registry.isPatient(s.patient.address);
        await s.link.ensurePatient(s.patientId);
        if (!wasRegistered) process.stderr.write(`registered ${s.patientId} (${s.patient.address}) on the embedded dev chain, served by this gateway (${s.link.address})\n`);
        const now = await chainNow(s.provider);
        const expiry = 'at' in expires ? expires.at : Math.min(now + expires.after, MAX_EXPIRY);
        if (expiry <= now) throw new Error(`--expires ${o.expires} (${expiryIso(expiry)}) is not in the future (now is ${expiryIso(now)})`);
        const reg = s.contracts.registry;
        if (o.registerClinician && !(await reg.isClinician(to)) && !(await reg.isCareTeam(to))) {
          await (await reg.connect(s.admin!).registerClinician(to, placeholderEncryptionKey(to))).wait();
          process.stderr.write(`registered ${to} as a clinician on the embedded dev chain, with a placeholder encryption key (it sets its own with Registry.setEncryptionKey)\n`);
        }
        const relayer = o.gasless ? (s.admin ?? s.link.wallet) : s.patient;
        const ctx: ConsentErrorContext = {
          patientId: s.patientId, patientAddress: s.patient.address, grantee: to, payer: relayer.address, registerHint: !o.chainUrl && !o.registerClinician,
        };
        let tx;
        if (o.gasless) {
          const consentC = s.contracts.consent;
          const nonce = await consentC.nonces(s.patient.address);
          const deadline = now + 3600;
          const signature = await signConsent(s.patient, consentDomain(s.deployment.chainId, s.deployment.contracts.Consent), {
            patient: s.patient.address, grantee: to, streams, dataFrom, dataUntil, expiry, purpose, nonce, deadline,
          });
          tx = await sendConsentTx(() => consentC.connect(relayer).grantBySig(s.patient.address, to, streams, dataFrom, dataUntil, expiry, purpose, nonce, deadline, signature), ctx);
        } else {
          await topUp(s, s.patient.address);
          tx = await sendConsentTx(() => s.contracts.consent.connect(s.patient).grant(to, streams, dataFrom, dataUntil, expiry, purpose), ctx);
        }
        return {
          action: 'grant', patient: s.patientId, patientAddress: s.patient.address, grantee: to,
          streams: streamNames(streams), streamsMask: streams, dataFrom, dataUntil, expiry, expiresAt: expiryIso(expiry), purpose,
          bySignature: !!o.gasless, tx: tx.hash, block: tx.block, gasUsed: tx.gasUsed, paidBy: tx.from,
        };
      });
      if (o.json) {
        process.stdout.write(JSON.stringify(result) + '\n');
      } else {
        process.stdout.write(
          `granted ${result.grantee} access to ${result.patient}'s ${describeStreams(result.streamsMask)}, data ${describeWindow(result.dataFrom, result.dataUntil)}; `
          + `${result.expiry >= MAX_EXPIRY ? 'never expires' : `expires ${result.expiresAt}`}; purpose ${JSON.stringify(result.purpose)}\n`
          + `  tx ${result.tx} (block ${result.block}), ${result.gasUsed.toLocaleString('en-US')} gas paid by `
          + (result.bySignature ? `the relayer ${result.paidBy}: the patient signed (EIP-712) and paid nothing\n` : `the patient (${result.paidBy})\n`),
        );
      }
    });
}
