/** `vitalgate consent list`: the patient's grants and break-glass accesses, from the Consent events. */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { getAddress, isAddress, Wallet, type JsonRpcProvider } from 'ethers';
import { ALL_STREAMS, MAX_DATA_TS, createProvider, expiryIso, readConsentHistory, readDeployment, type BreakGlassEntry, type GrantEntry } from '@vitalgate/contracts';
import { Keystore, dataDirLayout } from '@vitalgate/edge-gateway';
import { redactUrl } from '@vitalgate/protocol';
import { ALLOW_DEMO_OPTION, keystorePassphrase } from '../../passphrase.js';
import { chainDir } from '../../chain/embedded.js';
import { chainOptions, requirePatientId, type ListOpts } from './options.js';
import { openChain } from './session.js';

interface ListResult { patientAddress?: string; chainId: number; now: number; items: (GrantEntry | BreakGlassEntry)[] }

export function registerList(consent: Command): void {
  chainOptions(consent.command('list'))
    .description('list the patient\'s grants (from the Consent events) with their status, and every break-glass access')
    .option('--patient <id>', 'the patient, by its off-chain id (e.g. patient-0001): its account is read from the gateway keystore (needs the passphrase)')
    .option('--patient-address <address>', 'the patient\'s chain account instead of --patient: no keystore or passphrase needed')
    .option('--passphrase-file <file>', 'file holding the gateway passphrase, with --patient (or set VITALGATE_PASSPHRASE_FILE)')
    .option(...ALLOW_DEMO_OPTION)
    .option('--history', 'every grant ever made, including those replaced by a later grant to the same grantee (default: the latest per grantee)')
    .option('--json', 'print a JSON array of {type: "grant", grantee, status, streams, dataFrom, dataUntil, expiry, purpose, …} and {type: "break-glass", clinician, at, until, reason, status, …}')
    .addHelpText('after', [
      '',
      'Status of a grant now (the later of the wall clock and the chain\'s latest block): active, expired',
      '(its expiry has passed), revoked, or replaced (--history: a later grant to the same grantee took its',
      'place). A break-glass access is active until its session ends. Times are UTC; data windows are inclusive.',
      '',
      'The chain holds no patient id: a patient\'s on-chain ref is a keyed hash under their master secret,',
      'so a guessable id cannot be looked up there. Name the patient by --patient (with the gateway\'s',
      'keystore) or by --patient-address.',
      '',
      'Chain: as for grant and revoke (the embedded chain in <data-dir>/chain by default).',
    ].join('\n'))
    .action(async (o: ListOpts) => {
      const patientId = o.patientAddress ? (o.patient ?? o.patientAddress) : requirePatientId(o.patient);
      const entries = await listConsents(o, await patientAccount(o));
      if (o.json) {
        process.stdout.write(JSON.stringify(entries.items) + '\n');
        if (!entries.patientAddress) process.stderr.write(`${patientId} is not registered on chain: no grants\n`);
      } else {
        process.stdout.write(formatList(patientId, entries));
      }
    });
}

/** The patient's chain account: given, or the one whose key the gateway keystore holds for them. */
async function patientAccount(o: ListOpts): Promise<string | undefined> {
  if (o.patientAddress) {
    if (!isAddress(o.patientAddress)) throw new Error(`--patient-address ${JSON.stringify(o.patientAddress)} is not an address`);
    return getAddress(o.patientAddress);
  }
  const patientId = requirePatientId(o.patient);
  const keysDir = dataDirLayout(o.dataDir).keys;
  if (!existsSync(join(keysDir, 'keystore.json'))) {
    throw new Error(`no gateway keystore in ${keysDir}: pass the gateway's --data-dir, or name the patient by --patient-address`);
  }
  const { passphrase } = await keystorePassphrase({ passphraseFile: o.passphraseFile, allowDemo: o.allowDemoPassphrase, keysDir });
  const key = await (await Keystore.open(keysDir, passphrase)).getSecret(`eth-patient-${patientId}`);
  return key ? new Wallet(`0x${Buffer.from(key).toString('hex')}`).address : undefined;
}

async function listConsents(o: ListOpts, patient: string | undefined): Promise<ListResult> {
  if (!o.chainUrl && !existsSync(join(chainDir(o.dataDir), 'deployment.json'))) {
    throw new Error(`no embedded chain in ${chainDir(o.dataDir)} (pass the gateway's --data-dir, or --chain-url and --deployment)`);
  }
  const chain = await openChain(o);
  const deployment = readDeployment(chain.deploymentFile);
  let provider: JsonRpcProvider | undefined;
  try {
    if (!deployment) throw new Error(`no deployment at ${chain.deploymentFile} (pass --deployment, or run \`vitalgate chain up\` first)`);
    provider = createProvider(chain.url);
    const net = await provider.getNetwork().catch((e: Error) => { throw new Error(`chain at ${redactUrl(chain.url)} is not reachable: ${e.message}`); });
    if (Number(net.chainId) !== deployment.chainId) throw new Error(`chain ${redactUrl(chain.url)} has id ${net.chainId}, the deployment is for ${deployment.chainId}`);
    const h = await readConsentHistory({ provider, deployment, patient, ...(o.history !== undefined ? { history: o.history } : {}) });
    return { ...h, chainId: deployment.chainId };
  } finally {
    provider?.destroy();
    await chain.stop();
  }
}

function shortWindow(from: number, until: number): string {
  if (from === 0 && until === MAX_DATA_TS) return 'any time';
  return `${from === 0 ? '…' : new Date(from).toISOString()} → ${until === MAX_DATA_TS ? '…' : new Date(until).toISOString()}`;
}

function formatList(patientId: string, r: ListResult): string {
  if (!r.patientAddress) return `${patientId} is not registered on chain ${r.chainId}: no grants\n`;
  const grants = r.items.filter((i): i is GrantEntry => i.type === 'grant');
  const glass = r.items.filter((i): i is BreakGlassEntry => i.type === 'break-glass');
  let out = `${patientId} (${r.patientAddress}) on chain ${r.chainId}, at ${expiryIso(r.now)}\n`;
  if (grants.length === 0) {
    out += 'no grants\n';
  } else {
    const rows = [['GRANTEE', 'KIND', 'STATUS', 'STREAMS', 'DATA WINDOW', 'EXPIRES', 'PURPOSE'], ...grants.map((g) => [
      g.grantee,
      g.granteeKind + (g.granteeBanned ? ' (banned)' : ''),
      g.status + (g.status === 'revoked' && g.revokedAt ? ` ${g.revokedAt}` : ''),
      g.streamsMask === ALL_STREAMS ? 'all' : g.streams.join(','),
      shortWindow(g.dataFrom, g.dataUntil),
      g.expiresAt,
      JSON.stringify(g.purpose) + (g.bySignature ? ' (signed, relayed)' : ''),
    ])];
    const widths = rows[0]!.map((_, c) => Math.max(...rows.map((row) => row[c]!.length)));
    out += rows.map((row) => row.map((cell, c) => cell.padEnd(widths[c]!)).join('  ').trimEnd()).join('\n') + '\n';
  }
  if (glass.length > 0) {
    out += `\nbreak-glass accesses (${glass.length}):\n`;
    for (const b of glass) out += `  ${b.at}  ${b.clinician}  until ${b.untilIso} (${b.status})  reason ${JSON.stringify(b.reason)} [${b.reasonClass}]  use #${b.use}\n`;
  } else {
    out += 'no break-glass accesses\n';
  }
  return out;
}
