/**
 * `vitalgate consent grant|revoke|list`: a patient manages who may read its streams, on the gateway's
 * chain (the Consent contract). The patient's chain key is the sealed secret `eth-patient-<id>` in the
 * gateway keystore; on the embedded development chain the patient (and, on request, the grantee) is
 * registered with anvil's dev admin key, which also relays `--gasless` consents.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { getAddress, isAddress, keccak256, toUtf8Bytes, Wallet, ZeroAddress, type ContractTransactionResponse, type JsonRpcProvider, type Result } from 'ethers';
import {
  ALL_STREAMS, MAX_DATA_TS, MAX_EXPIRY, Consent__factory, Registry__factory, connectContracts, consentDomain, createProvider,
  readDeployment, signConsent, signRevoke, streamIdsOf, type Deployment, type VitalgateContracts,
} from '@vitalgate/contracts';
import { ChainLink, Keystore, dataDirLayout } from '@vitalgate/edge-gateway';
import { BREAK_GLASS_REASONS, STREAMS, STREAM_NAMES, isStreamName, isValidId, redactUrl, streamById } from '@vitalgate/protocol';
import { DEFAULT_DATA_DIR } from '../options.js';
import { ALLOW_DEMO_OPTION, keystorePassphrase } from '../passphrase.js';
import { chainDir, startEmbeddedChain, type EmbeddedChain } from '../chain/embedded.js';

// ------------------------------------------------------------------------------------------- options

interface ChainOpts { dataDir: string; chainUrl?: string; deployment?: string }
interface PatientOpts extends ChainOpts { patient?: string; passphraseFile?: string; allowDemoPassphrase?: boolean; json?: boolean }
interface GrantOpts extends PatientOpts {
  to?: string; streams: string; from?: string; until?: string; expires: string; purpose?: string;
  gasless?: boolean; registerClinician?: boolean;
}
interface RevokeOpts extends PatientOpts { to?: string; gasless?: boolean }
interface ListOpts extends ChainOpts { patient?: string; patientAddress?: string; passphraseFile?: string; allowDemoPassphrase?: boolean; json?: boolean; history?: boolean }

function chainOptions(cmd: Command): Command {
  return cmd
    .option('--data-dir <dir>', 'gateway data directory (its keystore holds the patients\' chain keys; its chain/ the embedded chain)', DEFAULT_DATA_DIR)
    .option('--chain-url <url>', 'JSON-RPC URL of the gateway\'s chain (default: the embedded chain in <data-dir>/chain, started for this command)')
    .option('--deployment <file>', 'deployment file, with --chain-url (default: <data-dir>/chain/deployment.json)');
}

function patientOptions(cmd: Command): Command {
  return chainOptions(cmd)
    .option('--patient <id>', 'the patient, by its off-chain id (e.g. patient-0001; required): its chain key is sealed in the gateway keystore')
    .option('--passphrase-file <file>', 'file holding the gateway passphrase (or set VITALGATE_PASSPHRASE_FILE)')
    .option(...ALLOW_DEMO_OPTION);
}

const CHAIN_HELP = [
  '',
  'Chain: by default the embedded anvil chain in <data-dir>/chain is started for the command and stopped',
  'after it (do not run it while `vitalgate start`/`run` uses the same data directory: pass --chain-url',
  'instead). There the dev admin key registers the patient on first use and pays for --gasless. With',
  '--chain-url the patient must already be registered (an admin registers it with the gateway), and',
  '--gasless is relayed and paid for by this gateway\'s own chain account.',
].join('\n');

function requirePatientId(v: string | undefined): string {
  if (v === undefined || v === '') throw new Error('--patient <id> is required (the patient\'s off-chain id, e.g. patient-0001)');
  if (!isValidId(v) || `eth-patient-${v}`.length > 64) throw new Error(`invalid patient id ${JSON.stringify(v)}: use 1-52 of A-Z a-z 0-9 . _ - (starting with a letter or digit)`);
  return v;
}

function requireAddress(name: string, v: string | undefined): string {
  if (v === undefined || v === '') throw new Error(`${name} <address> is required (the grantee: a registered clinician's or care team's 0x address)`);
  if (!isAddress(v)) throw new Error(`${name} ${JSON.stringify(v)} is not an Ethereum address (0x and 40 hex digits, with a valid checksum if mixed-case)`);
  const a = getAddress(v);
  if (a === ZeroAddress) throw new Error(`${name} must not be the zero address`);
  return a;
}

/** `all`, or comma-separated stream names. */
export function parseStreams(v: string): number {
  const s = v.trim().toLowerCase();
  if (s === 'all') return ALL_STREAMS;
  let mask = 0;
  for (const raw of s.split(',')) {
    const name = raw.trim();
    if (!isStreamName(name)) throw new Error(`--streams: unknown stream ${JSON.stringify(name)}; use "all" or a comma-separated list of ${STREAM_NAMES.join(', ')}`);
    mask |= 1 << STREAMS[name].id;
  }
  return mask;
}

export function streamNames(mask: number): string[] {
  return streamIdsOf(mask).map((id) => streamById(id)?.name ?? `stream-${id}`);
}

/** A reading timestamp bound: ISO 8601 or ms since the Unix epoch. */
export function parseDataTime(name: string, v: string): number {
  const t = /^\d+$/.test(v.trim()) ? Number(v.trim()) : Date.parse(v);
  if (!Number.isFinite(t) || !Number.isInteger(t) || t < 0 || t > MAX_DATA_TS) {
    throw new Error(`${name} must be an ISO 8601 time (e.g. 2026-01-01T00:00:00Z) or ms since the Unix epoch (0..${MAX_DATA_TS}), got ${JSON.stringify(v)}`);
  }
  return t;
}

export type ExpirySpec = { at: number } | { after: number };
const UNIT_SECONDS: Record<string, number> = { s: 1, m: 60, min: 60, h: 3600, d: 86_400, w: 604_800 };

/** `never`, a duration (30d, 12h, 90m, 45s, 2w) from now, or an ISO 8601 time. Seconds. */
export function parseExpiry(v: string): ExpirySpec {
  const s = v.trim();
  if (s.toLowerCase() === 'never') return { at: MAX_EXPIRY };
  const d = /^(\d+(?:\.\d+)?)\s*(s|min|m|h|d|w)$/i.exec(s);
  if (d) {
    const secs = Math.round(Number(d[1]) * UNIT_SECONDS[d[2]!.toLowerCase()]!);
    if (secs < 1) throw new Error(`--expires ${JSON.stringify(v)} is not in the future`);
    return { after: secs };
  }
  const t = /^\d+$/.test(s) ? NaN : Date.parse(s);
  if (!Number.isFinite(t)) throw new Error(`--expires must be a duration from now (30d, 12h, 90m, 2w), an ISO 8601 time, or "never"; got ${JSON.stringify(v)}`);
  const at = Math.floor(t / 1000);
  if (at > MAX_EXPIRY) throw new Error(`--expires ${JSON.stringify(v)} is beyond the largest expiry (use "never")`);
  return { at };
}

// --------------------------------------------------------------------------------------- the chain

interface ChainSession {
  url: string;
  deploymentFile: string;
  embedded?: EmbeddedChain;
  stop(): Promise<void>;
}

async function openChain(o: ChainOpts): Promise<ChainSession> {
  if (o.deployment && !o.chainUrl) throw new Error('--deployment goes with --chain-url (the embedded chain has its own deployment file)');
  if (o.chainUrl) {
    return { url: o.chainUrl, deploymentFile: o.deployment ?? join(chainDir(o.dataDir), 'deployment.json'), stop: async () => {} };
  }
  const embedded = await startEmbeddedChain(chainDir(o.dataDir));
  return { url: embedded.url, deploymentFile: embedded.deploymentFile, embedded, stop: () => embedded.stop() };
}

interface PatientSession {
  patientId: string;
  patient: Wallet;
  link: ChainLink;
  provider: JsonRpcProvider;
  deployment: Deployment;
  /** Read-only contracts. */
  contracts: VitalgateContracts;
  /** The dev admin (embedded chain only). */
  admin?: Wallet;
}

/** Opens the keystore and the chain, runs `fn` with the patient's account, and closes everything. */
async function withPatient<T>(o: PatientOpts, fn: (s: PatientSession) => Promise<T>): Promise<T> {
  const patientId = requirePatientId(o.patient);
  const keysDir = dataDirLayout(o.dataDir).keys;
  if (!existsSync(join(keysDir, 'keystore.json'))) {
    throw new Error(`no gateway keystore in ${keysDir} (pass the gateway's --data-dir; the gateway creates it on first start)`);
  }
  const { passphrase } = await keystorePassphrase({ passphraseFile: o.passphraseFile, allowDemo: o.allowDemoPassphrase, keysDir });
  const keystore = await Keystore.open(keysDir, passphrase);
  const chain = await openChain(o);
  let link: ChainLink | undefined;
  try {
    link = await ChainLink.connect({ url: chain.url, deploymentFile: chain.deploymentFile, ...(chain.embedded ? { adminKey: chain.embedded.adminKey } : {}) }, keystore);
    const patient = await link.patientWallet(patientId);
    return await fn({
      patientId, patient, link, provider: link.provider, deployment: link.deployment,
      contracts: connectContracts(link.deployment, link.provider),
      ...(chain.embedded ? { admin: new Wallet(chain.embedded.adminKey, link.provider) } : {}),
    });
  } finally {
    link?.provider.destroy();
    await chain.stop();
  }
}

/**
 * "Now" as the contracts will see it: the next block's time, which is the later of the latest block's
 * and the wall clock (anvil mines at the wall clock; an idle chain's latest block may be old).
 */
async function chainNow(provider: JsonRpcProvider): Promise<number> {
  const b = await provider.getBlock('latest');
  return Math.max(Number(b?.timestamp ?? 0), Math.floor(Date.now() / 1000));
}

/** Dev chain only: makes sure the account can pay for a transaction. */
async function topUp(s: PatientSession, address: string): Promise<void> {
  if (!s.admin) return;
  if ((await s.provider.getBalance(address)) < 10n ** 17n) await (await s.admin.sendTransaction({ to: address, value: 10n ** 18n })).wait();
}

/** A placeholder clinician encryption key (32 bytes, X25519-sized) derived from its address: dev chain only. */
function placeholderEncryptionKey(address: string): string {
  return keccak256(toUtf8Bytes(`vitalgate/dev-placeholder-encryption-key/${address.toLowerCase()}`));
}

// ------------------------------------------------------------------------------------ contract errors

const consentIface = Consent__factory.createInterface();
const registryIface = Registry__factory.createInterface();

/** The custom error a failed call reverted with, decoded with the Consent or Registry ABI. */
export function decodeRevert(e: unknown): { name: string; args: Result } | undefined {
  const seen = new Set<unknown>();
  const candidates: string[] = [];
  const walk = (x: unknown, depth: number): void => {
    if (depth > 5 || x === null || typeof x !== 'object' || seen.has(x)) return;
    seen.add(x);
    const data = (x as { data?: unknown }).data;
    if (typeof data === 'string' && /^0x[0-9a-fA-F]{8}/.test(data)) candidates.push(data);
    for (const k of ['error', 'info', 'cause', 'data']) walk((x as Record<string, unknown>)[k], depth + 1);
  };
  walk(e, 0);
  for (const data of candidates) {
    for (const iface of [consentIface, registryIface]) {
      try {
        const d = iface.parseError(data);
        if (d) return { name: d.name, args: d.args };
      } catch { /* not this interface's */ }
    }
  }
  return undefined;
}

interface ErrorContext { patientId: string; patientAddress: string; grantee: string; payer: string; registerHint: boolean }

const iso = (seconds: number | bigint): string => {
  const n = Number(seconds);
  return n >= MAX_EXPIRY ? 'never' : new Date(n * 1000).toISOString();
};

/** A clear message for a failed consent transaction. */
export function explain(e: unknown, c: ErrorContext): Error {
  const r = decodeRevert(e);
  const who = `${c.patientId} (${c.patientAddress})`;
  if (r) {
    switch (r.name) {
      case 'InvalidGrantee':
        return new Error(`${c.grantee} is not a registered clinician or care team${c.registerHint ? ' (on the embedded dev chain, --register-clinician registers it)' : ''}`);
      case 'NotPatient': return new Error(`patient ${who} is not registered on chain`);
      case 'NoGrant': return new Error(`no grant from ${c.patientId} to ${c.grantee} to revoke`);
      case 'InvalidStreams': return new Error(`invalid streams bitmask 0x${Number(r.args[0]).toString(16)}`);
      case 'InvalidDataWindow': return new Error(`the data window is empty: --from ${r.args[0]} ms is after --until ${r.args[1]} ms`);
      case 'InvalidExpiry': return new Error(`the expiry ${iso(r.args[0] as bigint)} is not in the future (chain time)`);
      case 'PurposeRequired': return new Error('a purpose is required (--purpose)');
      case 'ExpiredDeadline': return new Error(`the signature's deadline ${iso(r.args[0] as bigint)} has passed; sign again`);
      case 'InvalidSignature': return new Error(`the consent signature is not ${who}'s`);
      case 'InvalidAccountNonce': return new Error(`the signature's nonce is used or out of order (${c.patientId}'s next nonce is ${r.args[1]}); sign again`);
      case 'AccessControlUnauthorizedAccount': return new Error(`${r.args[0]} lacks the role ${r.args[1]} for this call`);
      default: return new Error(`the contract refused: ${r.name}(${[...r.args].join(', ')})`);
    }
  }
  const err = e as { code?: string; shortMessage?: string; message?: string };
  if (err.code === 'INSUFFICIENT_FUNDS' || /insufficient funds/i.test(err.message ?? '')) {
    return new Error(`${c.payer} has no ETH to pay for the gas${c.payer === c.patientAddress ? ' (the patient\'s account: use --gasless to have a relayer pay)' : ''}`);
  }
  return new Error(err.shortMessage ?? err.message ?? String(e));
}

async function send(tx: () => Promise<ContractTransactionResponse>, c: ErrorContext): Promise<{ hash: string; block: number; gasUsed: number; from: string }> {
  try {
    const sent = await tx();
    const receipt = await sent.wait();
    if (!receipt) throw new Error(`transaction ${sent.hash} has no receipt`);
    return { hash: receipt.hash, block: receipt.blockNumber, gasUsed: Number(receipt.gasUsed), from: receipt.from };
  } catch (e) {
    throw explain(e, c);
  }
}

// ---------------------------------------------------------------------------------------- commands

export function registerConsent(program: Command): void {
  const consent = program
    .command('consent')
    .description('a patient grants, revokes and lists access to its streams on the gateway\'s chain (the Consent contract)');

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
        if (expiry <= now) throw new Error(`--expires ${o.expires} (${iso(expiry)}) is not in the future (now is ${iso(now)})`);
        const reg = s.contracts.registry;
        if (o.registerClinician && !(await reg.isClinician(to)) && !(await reg.isCareTeam(to))) {
          await (await reg.connect(s.admin!).registerClinician(to, placeholderEncryptionKey(to))).wait();
          process.stderr.write(`registered ${to} as a clinician on the embedded dev chain, with a placeholder encryption key (it sets its own with Registry.setEncryptionKey)\n`);
        }
        const relayer = o.gasless ? (s.admin ?? s.link.wallet) : s.patient;
        const ctx: ErrorContext = {
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
          tx = await send(() => consentC.connect(relayer).grantBySig(s.patient.address, to, streams, dataFrom, dataUntil, expiry, purpose, nonce, deadline, signature), ctx);
        } else {
          await topUp(s, s.patient.address);
          tx = await send(() => s.contracts.consent.connect(s.patient).grant(to, streams, dataFrom, dataUntil, expiry, purpose), ctx);
        }
        return {
          action: 'grant', patient: s.patientId, patientAddress: s.patient.address, grantee: to,
          streams: streamNames(streams), streamsMask: streams, dataFrom, dataUntil, expiry, expiresAt: iso(expiry), purpose,
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
        const ctx: ErrorContext = { patientId: s.patientId, patientAddress: s.patient.address, grantee: to, payer: relayer.address, registerHint: false };
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
          tx = await send(() => consentC.connect(relayer).revokeBySig(s.patient.address, to, nonce, deadline, signature), ctx);
        } else {
          await topUp(s, s.patient.address);
          tx = await send(() => s.contracts.consent.connect(s.patient).revoke(to), ctx);
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
        if (until <= now) throw new Error(`${clinician} has no break-glass session on ${s.patientId}'s data${until ? ` (the last one ended ${iso(until)})` : ''}`);
        await topUp(s, s.patient.address);
        const ctx: ErrorContext = { patientId: s.patientId, patientAddress: s.patient.address, grantee: clinician, payer: s.patient.address, registerHint: false };
        const tx = await send(() => s.contracts.consent.connect(s.patient).endBreakGlass(s.patient.address, clinician), ctx);
        return { action: 'end-break-glass', patient: s.patientId, patientAddress: s.patient.address, clinician, wasUntil: iso(until), tx: tx.hash, block: tx.block, gasUsed: tx.gasUsed };
      });
      if (o.json) process.stdout.write(JSON.stringify(result) + '\n');
      else process.stdout.write(`ended ${result.clinician}'s break-glass session on ${result.patient}'s data (it would have run until ${result.wasUntil})\n  tx ${result.tx} (block ${result.block})\n`);
    });

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
        const ctx: ErrorContext = { patientId: s.patientId, patientAddress: s.patient.address, grantee: s.patient.address, payer: s.patient.address, registerHint: false };
        const tx = await send(() => s.contracts.consent.connect(s.patient).cancelNonces(upTo), ctx);
        const after = await s.contracts.consent.nonces(s.patient.address);
        return { action: 'cancel-signatures', patient: s.patientId, patientAddress: s.patient.address, fromNonce: Number(next), toNonce: Number(after) - 1, tx: tx.hash, block: tx.block, gasUsed: tx.gasUsed };
      });
      if (o.json) process.stdout.write(JSON.stringify(result) + '\n');
      else process.stdout.write(`cancelled ${result.patient}'s unrelayed signatures with nonces ${result.fromNonce}..${result.toNonce}\n  tx ${result.tx} (block ${result.block})\n`);
    });

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

// -------------------------------------------------------------------------------------------- list

export interface GrantEntry {
  type: 'grant';
  grantee: string;
  granteeKind: 'clinician' | 'care team' | 'unregistered';
  granteeBanned: boolean;
  status: 'active' | 'expired' | 'revoked' | 'replaced';
  streams: string[];
  streamsMask: number;
  dataFrom: number;
  dataUntil: number;
  expiry: number;
  expiresAt: string;
  purpose: string;
  bySignature: boolean;
  grantedAt: string;
  block: number;
  tx: string;
  revokedAt?: string;
  revokeTx?: string;
}

/** Consent's break-glass reason codes (Consent.MAX_REASON_CODE = 3). */

export interface BreakGlassEntry {
  type: 'break-glass';
  clinician: string;
  reasonCode: number;
  reasonClass: string;
  reason: string;
  /** The clinician's break-glass uses on any patient, this one included (every use after the first is a strike). */
  use: number;
  at: string;
  until: number;
  untilIso: string;
  status: 'active' | 'ended';
  block: number;
  tx: string;
}

interface ListResult { patientAddress?: string; chainId: number; now: number; items: (GrantEntry | BreakGlassEntry)[] }

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
    const { registry, consent } = connectContracts(deployment, provider);
    const now = await chainNow(provider);
    const address = patient;
    if (!address || !(await registry.isPatient(address))) return { chainId: deployment.chainId, now, items: [] };

    const from = deployment.deployedAtBlock;
    const [granted, revoked, glass] = await Promise.all([
      consent.queryFilter(consent.filters.Granted(address), from, 'latest'),
      consent.queryFilter(consent.filters.Revoked(address), from, 'latest'),
      consent.queryFilter(consent.filters.BreakGlass(address), from, 'latest'),
    ]);
    const blockTimes = new Map<number, number>();
    await Promise.all([...new Set([...granted, ...revoked, ...glass].map((e) => e.blockNumber))].map(async (n) => {
      const b = await provider!.getBlock(n);
      blockTimes.set(n, Number(b?.timestamp ?? 0));
    }));
    const timeOf = (n: number) => iso(blockTimes.get(n) ?? 0);

    type Ev = { kind: 'granted'; e: (typeof granted)[number] } | { kind: 'revoked'; e: (typeof revoked)[number] } | { kind: 'glass'; e: (typeof glass)[number] };
    const events: Ev[] = [
      ...granted.map((e) => ({ kind: 'granted' as const, e })),
      ...revoked.map((e) => ({ kind: 'revoked' as const, e })),
      ...glass.map((e) => ({ kind: 'glass' as const, e })),
    ].sort((a, b) => a.e.blockNumber - b.e.blockNumber || a.e.index - b.e.index);

    const items: (GrantEntry | BreakGlassEntry)[] = [];
    const latest = new Map<string, GrantEntry>();
    for (const ev of events) {
      if (ev.kind === 'granted') {
        const a = ev.e.args;
        const grantee = getAddress(a.grantee);
        const previous = latest.get(grantee);
        if (previous && previous.status !== 'revoked') previous.status = 'replaced';
        const expiry = Number(a.expiry);
        const entry: GrantEntry = {
          type: 'grant', grantee, granteeKind: 'unregistered', granteeBanned: false,
          status: now < expiry ? 'active' : 'expired',
          streams: streamNames(Number(a.streams)), streamsMask: Number(a.streams),
          dataFrom: Number(a.dataFrom), dataUntil: Number(a.dataUntil), expiry, expiresAt: iso(expiry),
          purpose: a.purpose, bySignature: a.bySignature, grantedAt: timeOf(ev.e.blockNumber), block: ev.e.blockNumber, tx: ev.e.transactionHash,
        };
        latest.set(grantee, entry);
        items.push(entry);
      } else if (ev.kind === 'revoked') {
        const g = latest.get(getAddress(ev.e.args.grantee));
        if (g && g.status !== 'revoked' && g.status !== 'replaced') {
          g.status = 'revoked';
          g.revokedAt = timeOf(ev.e.blockNumber);
          g.revokeTx = ev.e.transactionHash;
        }
      } else {
        // The session may have been ended early (by the patient or the clinician), or replaced by a later one.
        const clinician = getAddress(ev.e.args.clinician);
        const until = Math.min(Number(ev.e.args.until), Number(await consent.breakGlassUntil(address, clinician)));
        const code = Number(ev.e.args.reasonCode);
        items.push({
          type: 'break-glass', clinician, reasonCode: code, reasonClass: BREAK_GLASS_REASONS[code] ?? `code ${code}`, reason: ev.e.args.reason,
          use: Number(ev.e.args.use), at: timeOf(ev.e.blockNumber),
          until, untilIso: iso(until), status: now < until ? 'active' : 'ended', block: ev.e.blockNumber, tx: ev.e.transactionHash,
        });
      }
    }
    const shown = o.history ? items : items.filter((i) => i.type !== 'grant' || latest.get(i.grantee) === i);
    await Promise.all([...latest.keys()].map(async (g) => {
      const [isClinician, isCareTeam, banned] = await Promise.all([registry.isClinician(g), registry.isCareTeam(g), registry.isBanned(g)]);
      for (const i of items) {
        if (i.type === 'grant' && i.grantee === g) {
          i.granteeKind = isClinician ? 'clinician' : isCareTeam ? 'care team' : 'unregistered';
          i.granteeBanned = banned;
        }
      }
    }));
    return { patientAddress: address, chainId: deployment.chainId, now, items: shown };
  } finally {
    provider?.destroy();
    await chain.stop();
  }
}

function describeStreams(mask: number): string {
  return mask === ALL_STREAMS ? 'streams (all)' : `streams ${streamNames(mask).join(', ')}`;
}

function describeWindow(from: number, until: number): string {
  if (from === 0 && until === MAX_DATA_TS) return 'of any time';
  if (from === 0) return `up to ${new Date(until).toISOString()}`;
  if (until === MAX_DATA_TS) return `from ${new Date(from).toISOString()} on`;
  return `from ${new Date(from).toISOString()} to ${new Date(until).toISOString()}`;
}

function shortWindow(from: number, until: number): string {
  if (from === 0 && until === MAX_DATA_TS) return 'any time';
  return `${from === 0 ? '…' : new Date(from).toISOString()} → ${until === MAX_DATA_TS ? '…' : new Date(until).toISOString()}`;
}

function formatList(patientId: string, r: ListResult): string {
  if (!r.patientAddress) return `${patientId} is not registered on chain ${r.chainId}: no grants\n`;
  const grants = r.items.filter((i): i is GrantEntry => i.type === 'grant');
  const glass = r.items.filter((i): i is BreakGlassEntry => i.type === 'break-glass');
  let out = `${patientId} (${r.patientAddress}) on chain ${r.chainId}, at ${iso(r.now)}\n`;
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
