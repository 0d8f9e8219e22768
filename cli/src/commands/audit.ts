/**
 * `vitalgate audit --patient P`: the patient's view of the access log, who asked for my data, when,
 * what they got, and whether it was under break-glass, with every entry proven against the chain
 * rather than taken on ingest's word:
 *   - the entry's bytes hash to the leaf ingest names (keccak256);
 *   - the Merkle proof leads from that leaf to the root;
 *   - AuditLog holds that root, recorded by an account that holds Registry.AUDITOR_ROLE, over a time
 *     range that contains the entry's time.
 * The log is read through ingest as the patient's gateway (its requests are signed with the
 * gateway's chain account), like `open --from-ingest`.
 */
import type { Command } from 'commander';
import { keccak256, Wallet, type JsonRpcProvider } from 'ethers';
import { bytesToHex } from '@noble/hashes/utils.js';
import { connectContracts, createProvider, readDeployment, verifyBatchProof, type Deployment } from '@vitalgate/contracts';
import { Keystore, dataDirLayout } from '@vitalgate/edge-gateway';
import { IngestClient, type AccessLogEntry } from '@vitalgate/ingest';
import { isValidId, redactUrl } from '@vitalgate/protocol';
import { DEFAULT_DATA_DIR } from '../options.js';
import { ALLOW_DEMO_OPTION, keystorePassphrase } from '../passphrase.js';
import { startEmbeddedCloud } from '../cloud/embedded-ingest.js';
import { chainDir, startEmbeddedChain, type EmbeddedChain } from '../chain/embedded.js';

interface AuditOpts {
  patient?: string; dataDir: string; passphraseFile?: string; allowDemoPassphrase?: boolean;
  ingest?: string; chainUrl?: string; deployment?: string; json?: boolean;
}

interface ServedEntry { key: string; entry: string; hash: string; anchor: { root: string; tx: string | null; block: number | null; proof: string[] } | null }

export type AuditStatus = 'proven' | 'not-anchored' | 'failed';
export interface AuditLine extends Partial<AccessLogEntry> { key: string; status: AuditStatus; problem?: string; root?: string; tx?: string | null }

const toWallet = (secret: Uint8Array) => new Wallet(`0x${bytesToHex(secret)}`);

export function registerAudit(program: Command): void {
  program
    .command('audit')
    .description('the patient\'s view of the access log: who read which of its data, when, and under what grant, each entry proven against the chain')
    .option('--patient <id>', 'the patient, by its off-chain id (e.g. patient-0001; required)')
    .option('--data-dir <dir>', 'gateway data directory: its keystore signs the requests as the patient\'s gateway', DEFAULT_DATA_DIR)
    .option('--passphrase-file <file>', 'file holding the gateway passphrase (or set VITALGATE_PASSPHRASE_FILE)')
    .option(...ALLOW_DEMO_OPTION)
    .option('--ingest <url>', 'the ingest service the gateway uploads to (default: the embedded cloud of `run`/`start` in <data-dir>, started for this command)')
    .option('--chain-url <url>', 'JSON-RPC URL of the chain holding AuditLog (default: the embedded chain in <data-dir>/chain)')
    .option('--deployment <file>', 'deployment file, with --chain-url (default: <data-dir>/chain/deployment.json)')
    .option('--json', 'print a JSON array: {ts, clinician, patient, stream, from, to, route, decision, reason, breakGlass, requestId, status: proven | not-anchored | failed, problem?, root, tx}')
    .addHelpText('after', `
Every decision the clinician API made about this patient is listed, allowed or denied, with the
grant, care team or BREAK-GLASS that allowed it. "proven": the entry is in a Merkle root that
AuditLog recorded from an auditor account. "not-anchored": written since the last anchor (ingest
anchors every minute by default) or by an ingest without the auditor key. "failed": ingest's copy
does not match what was anchored; the command then exits 1.`)
    .action(async (o: AuditOpts) => {
      if (!o.patient) throw new Error('--patient <id> is required (the patient\'s off-chain id, e.g. patient-0001)');
      if (!isValidId(o.patient)) throw new Error(`invalid patient id ${JSON.stringify(o.patient)}`);
      if (o.ingest && !/^https?:\/\//.test(o.ingest)) throw new Error(`--ingest ${redactUrl(o.ingest)}: expected an http:// or https:// URL`);
      if (o.deployment && !o.chainUrl) throw new Error('--deployment goes with --chain-url');
      const { passphrase } = await keystorePassphrase({ passphraseFile: o.passphraseFile, allowDemo: o.allowDemoPassphrase, keysDir: dataDirLayout(o.dataDir).keys });
      const keystore = await Keystore.open(dataDirLayout(o.dataDir).keys, passphrase);
      const gatewayKey = await keystore.getSecret('eth-gateway');
      if (!gatewayKey) throw new Error(`the gateway of ${o.dataDir} has no chain account yet: nothing was ever uploaded, so nothing was read`);
      const patientKey = await keystore.getSecret(`eth-patient-${o.patient}`);
      if (!patientKey) throw new Error(`${o.patient} is not a registered patient of the gateway in ${o.dataDir}`);
      const patientAccount = toWallet(patientKey).address;

      const stops: Array<() => Promise<void>> = [];
      try {
        let url = o.ingest;
        let chain: { url: string; deployment: Deployment } | undefined;
        if (!url) {
          const cloud = await startEmbeddedCloud(o.dataDir);
          stops.push(() => cloud.stop());
          url = cloud.url;
          if (!o.chainUrl) chain = { url: cloud.chain.url, deployment: cloud.chain.deployment };
        }
        if (!chain) {
          if (o.chainUrl) {
            const file = o.deployment ?? `${chainDir(o.dataDir)}/deployment.json`;
            const deployment = await readDeployment(file);
            if (!deployment) throw new Error(`no deployment at ${file}`);
            chain = { url: o.chainUrl, deployment };
          } else {
            const embedded: EmbeddedChain = await startEmbeddedChain(chainDir(o.dataDir));
            stops.push(() => embedded.stop());
            chain = { url: embedded.url, deployment: embedded.deployment };
          }
        }
        const provider = createProvider(chain.url, chain.deployment.chainId);
        stops.push(async () => provider.destroy());
        const client = new IngestClient(url, toWallet(gatewayKey));
        const served: ServedEntry[] = [];
        let auditor: string | null = null;
        let after: string | null = null;
        do {
          const page = await client.request('GET', `/v1/access-log?patientAccount=${patientAccount}${after ? `&after=${encodeURIComponent(after)}` : ''}`);
          if (page.status !== 200) throw new Error(`ingest refused the access log: ${page.status} ${page.json?.error ?? ''} ${page.json?.message ?? ''}`.trim());
          const body = page.json as unknown as { auditor: string | null; entries: ServedEntry[]; next: string | null };
          auditor = body.auditor;
          served.push(...body.entries);
          after = body.next;
          if (after) process.stderr.write(`  ${served.length} entries read\n`);
        } while (after);
        const lines = await prove(served, auditor, provider, chain.deployment);
        print(lines, o, patientAccount);
        if (lines.some((l) => l.status === 'failed')) process.exitCode = 1;
      } finally {
        for (const s of stops.reverse()) await s();
      }
    });
}

async function prove(served: ServedEntry[], auditor: string | null, provider: JsonRpcProvider, deployment: Deployment): Promise<AuditLine[]> {
  const c = connectContracts(deployment, provider);
  const auditorOk = auditor ? await c.registry.hasRole(await c.registry.AUDITOR_ROLE(), auditor) : false;
  const roots = new Map<string, { firstTs: number; lastTs: number } | null>();
  const lines: AuditLine[] = [];
  for (const s of served) {
    let e: Partial<AccessLogEntry> = {};
    try {
      e = JSON.parse(s.entry) as AccessLogEntry;
    } catch {
      // Shown as failed below: its hash still decides.
    }
    const line = (status: AuditStatus, problem?: string): AuditLine => ({ ...e, key: s.key, status, ...(problem && { problem }), ...(s.anchor && { root: s.anchor.root, tx: s.anchor.tx }) });
    if (keccak256(new TextEncoder().encode(s.entry)) !== s.hash) {
      lines.push(line('failed', 'the entry does not hash to the leaf ingest names'));
      continue;
    }
    if (!s.anchor) {
      lines.push(line('not-anchored'));
      continue;
    }
    if (!auditor || !auditorOk) {
      lines.push(line('failed', `the anchoring account ${auditor ?? '(none)'} does not hold Registry.AUDITOR_ROLE`));
      continue;
    }
    if (!verifyBatchProof(s.anchor.root, s.hash, s.anchor.proof)) {
      lines.push(line('failed', 'the Merkle proof does not lead to the root'));
      continue;
    }
    if (!roots.has(s.anchor.root)) {
      const r = await c.auditLog.rootRecord(auditor, s.anchor.root);
      roots.set(s.anchor.root, r.submitter === '0x0000000000000000000000000000000000000000' ? null : { firstTs: Number(r.firstTs), lastTs: Number(r.lastTs) });
    }
    const rec = roots.get(s.anchor.root);
    if (!rec) lines.push(line('failed', `AuditLog holds no root ${s.anchor.root} from ${auditor}`));
    else if (typeof e.ts !== 'number' || e.ts < rec.firstTs || e.ts > rec.lastTs) lines.push(line('failed', 'the entry\'s time is outside the anchored range'));
    else lines.push(line('proven'));
  }
  return lines;
}

function print(lines: AuditLine[], o: AuditOpts, patientAccount: string): void {
  if (o.json) {
    process.stdout.write(JSON.stringify(lines) + '\n');
    return;
  }
  process.stdout.write(`access log of ${o.patient} (${patientAccount}): ${lines.length} decisions\n`);
  for (const l of lines) {
    const when = typeof l.ts === 'number' ? new Date(l.ts).toISOString() : '?';
    const what = [l.stream ?? 'any stream', l.from !== undefined && l.to !== undefined ? `${new Date(l.from).toISOString()}..${new Date(l.to).toISOString()}` : ''].filter(Boolean).join(' ');
    process.stdout.write(`${when}  ${l.clinician ?? '?'}  ${(l.decision ?? '?').padEnd(5)} ${(l.reason ?? '').padEnd(14)} ${l.breakGlass ? 'BREAK-GLASS ' : ''}${l.route ?? ''} ${what}  [${l.status}${l.problem ? `: ${l.problem}` : ''}]\n`);
  }
  const readers = new Set(lines.filter((l) => l.decision === 'allow').map((l) => l.clinician));
  const glass = lines.filter((l) => l.breakGlass).length;
  const count = (s: AuditStatus) => lines.filter((l) => l.status === s).length;
  process.stdout.write(`${readers.size} clinicians read data; ${lines.filter((l) => l.decision === 'deny').length} requests denied; ${glass} accesses under BREAK-GLASS; ${count('proven')} proven on chain, ${count('not-anchored')} not anchored yet, ${count('failed')} FAILED\n`);
}
