/**
 * `vitalgate clinicians add|list|break-glass`: clinicians on the Registry. A clinician has a chain
 * account (it signs in with it) and a registered secp256k1 encryption key (gateways wrap epoch keys
 * to it). `add --generate FILE` makes both for a demo or command-line clinician; a clinician with its
 * own keys gives its address and public encryption key.
 */
import { existsSync } from 'node:fs';
import type { Command } from 'commander';
import { getAddress, hexlify, isAddress, Wallet } from 'ethers';
import { BREAK_GLASS_REASONS, envelopeRecipientKey } from '@vitalgate/protocol';
import { generateClinicianKeys, readClinicianKeyFile, writeClinicianKeyFile } from '../clinician-key-file.js';
import { adminChainOptions, sendTx, withAdminChain, type AdminChainOpts } from '../chain/admin.js';

interface AddOpts extends AdminChainOpts { encryptionKey?: string; generate?: string; json?: boolean }
interface ListOpts extends AdminChainOpts { json?: boolean }
interface GlassOpts extends AdminChainOpts { key?: string; patientAddress?: string; reasonCode?: string; reason?: string; duration: string; json?: boolean }

const registryErrors = (name: string, args: readonly unknown[]): string | undefined => {
  switch (name) {
    case 'AlreadyRegistered': return `${String(args[0])} is already registered (as a clinician, gateway or patient)`;
    case 'InvalidEncryptionKey': return 'the Registry refused the encryption key: 32, 33 or 65 bytes';
    case 'ZeroAddress': return 'the zero address cannot be a clinician';
    case 'AccessControlUnauthorizedAccount': return `${String(args[0])} is not a Registry admin`;
    default: return undefined;
  }
};

/** "30m", "2h", "90s", or seconds. */
export function parseDurationSeconds(v: string): number {
  const m = /^(\d+)\s*(s|m|h)?$/.exec(v.trim());
  if (!m) throw new Error(`--duration ${v}: expected e.g. 30m, 2h, 900s or a number of seconds`);
  const n = Number(m[1]) * (m[2] === 'h' ? 3600 : m[2] === 'm' ? 60 : 1);
  if (n <= 0) throw new Error('--duration must be more than 0');
  // Consent takes a uint40; past it ethers would fail with an encoding error instead of the contract's bound.
  if (n > 2 ** 40 - 1) throw new Error(`--duration ${v} is far beyond any break-glass bound`);
  return n;
}

const REASON_CODES = BREAK_GLASS_REASONS.map((r, i) => `${i} ${r}`).join(', ');

function hexKey(v: string): Uint8Array {
  const h = v.startsWith('0x') ? v.slice(2) : v;
  if (!/^[0-9a-fA-F]*$/.test(h) || h.length % 2) throw new Error('--encryption-key must be hex');
  return Uint8Array.from(Buffer.from(h, 'hex'));
}

export function registerClinicians(program: Command): void {
  const cmd = program.command('clinicians').description('clinicians on the Registry: register (with a new key file, or given keys), list, break the glass');

  adminChainOptions(cmd.command('add').argument('[address]', 'the clinician\'s chain account (0x…), when it holds its own keys'), true)
    .description('register a clinician: its account and its public encryption key (admin only)')
    .option('--encryption-key <hex>', 'the clinician\'s public encryption key: compressed (33 bytes) or uncompressed (65 bytes) secp256k1, hex')
    .option('--generate <file>', 'make a new clinician instead: a key file (account key + encryption key, mode 0600) written to FILE, never over an existing one')
    .option('--json', 'print {address, encryptionPublicKey, keyFile?, tx, block}')
    .addHelpText('after', `
Examples:
  vitalgate clinicians add --generate dr-lee.key
  vitalgate clinicians add 0x9965507D1a55bcC2695C58ba16FB37d819B0A4dc --encryption-key 02ab… --chain-url https://rpc.example.org --admin-key-file admin.key
The key file is for demos and the command line (vitalgate fetch); keep it like an ssh key.`)
    .action(async (address: string | undefined, o: AddOpts) => {
      // Usage errors before anything is written.
      if (o.chainUrl && o.deployment && !o.adminKeyFile) throw new Error('--admin-key-file <file> is required with --chain-url: only a Registry admin may register clinicians');
      let keyFile: string | undefined;
      let account: string;
      let publicKey: Uint8Array;
      if (o.generate) {
        if (address || o.encryptionKey) throw new Error('--generate makes a new account and key: give neither an address nor --encryption-key');
        if (existsSync(o.generate)) throw new Error(`${o.generate} exists: --generate never overwrites a key file`);
        const keys = generateClinicianKeys();
        account = keys.address;
        publicKey = keys.encryptionPublicKey;
        keyFile = o.generate;
        // Written before the transaction: a registered account whose keys were lost would be worse than a key file never registered.
        writeClinicianKeyFile(keyFile, keys);
      } else {
        if (!address) throw new Error('give the clinician\'s address and --encryption-key, or --generate FILE for a new clinician');
        if (!isAddress(address)) throw new Error(`${address} is not a 0x address`);
        if (!o.encryptionKey) throw new Error('--encryption-key <hex> is required with an address (its public secp256k1 key)');
        const k = envelopeRecipientKey(hexKey(o.encryptionKey));
        if (!k.ok) throw new Error(`--encryption-key: ${k.reason}`);
        account = getAddress(address);
        publicKey = hexKey(o.encryptionKey);
      }
      try {
        await withAdminChain(o, true, async (s) => {
          process.stderr.write(`registering clinician ${account}…\n`);
          const tx = await sendTx(() => s.contracts.registry.connect(s.admin!).registerClinician(account, publicKey), registryErrors);
          const out = { address: account, encryptionPublicKey: hexlify(publicKey), ...(keyFile && { keyFile }), tx: tx.hash, block: tx.block };
          if (o.json) process.stdout.write(JSON.stringify(out) + '\n');
          else process.stdout.write(`clinician ${account} registered (block ${tx.block})${keyFile ? `; its keys are in ${keyFile}` : ''}\n`);
        });
      } catch (e) {
        if (!keyFile) throw e;
        throw new Error(`${(e as Error).message}\n  ${keyFile} was written but its clinician is not registered; once the chain takes it: vitalgate clinicians add ${account} --encryption-key ${hexlify(publicKey)}`);
      }
    });

  adminChainOptions(cmd.command('list'), false)
    .description('every registered clinician: its encryption key, whether envelopes can reach it, bans, denied requests, care teams')
    .option('--json', 'print a JSON array of {address, encryptionKey, envelopes, banned, denied, careTeams}')
    .addHelpText('after', `
"envelopes ok" means gateways can wrap epoch keys to the clinician's key (a v1 key envelope); a
clinician without it can sign in but opens nothing. Denied counts the access requests refused on chain.

Example:
  vitalgate clinicians list --json`)
    .action(async (o: ListOpts) => {
      await withAdminChain(o, false, async (s) => {
        const r = s.contracts.registry;
        const seen = new Set<string>();
        for (const e of await r.queryFilter(r.filters.ClinicianRegistered(), s.deployment.deployedAtBlock)) seen.add(getAddress(e.args.clinician));
        const out = [];
        for (const a of seen) {
          const key = await r.encryptionKeyOf(a);
          const bytes = Uint8Array.from(Buffer.from(key.slice(2), 'hex'));
          out.push({
            address: a, encryptionKey: key, envelopes: envelopeRecipientKey(bytes).ok,
            banned: await r.isBanned(a), denied: Number(await r.deniedCount(a)), careTeams: [...(await r.careTeamsOf(a))],
          });
        }
        if (o.json) {
          process.stdout.write(JSON.stringify(out) + '\n');
          return;
        }
        if (!out.length) process.stdout.write('no clinicians registered\n');
        for (const c of out) {
          process.stdout.write(`${c.address}  ${c.envelopes ? 'envelopes ok' : 'KEY CANNOT RECEIVE ENVELOPES'}  ${c.banned ? 'BANNED' : 'active'}  denied ${c.denied}${c.careTeams.length ? `  teams ${c.careTeams.join(', ')}` : ''}\n`);
        }
      });
    });

  adminChainOptions(cmd.command('break-glass'), false)
    .description('as a clinician, in an emergency: open a patient\'s whole record for a bounded time, on chain, with a reason (every later use counts toward a ban)')
    .option('--key <file>', 'the clinician key file (required): its account calls Consent.breakGlass')
    .option('--patient-address <address>', 'the patient\'s chain account (required)')
    .option('--reason-code <n>', `the reason code (required): ${REASON_CODES}`)
    .option('--reason <text>', 'why (required; kept on chain in the BreakGlass event)')
    .option('--duration <d>', 'how long: 30m, 2h, 900s or seconds (at most the Consent contract\'s breakGlassDuration)', '1h')
    .option('--json', 'print {clinician, patient, until, tx, block}')
    .addHelpText('after', `
The patient sees it: the gateway logs BREAK-GLASS, \`vitalgate consent list\` shows the session, and
every access under it is flagged in \`vitalgate audit\`. The patient can end it early
(\`vitalgate consent end-break-glass\`). On the embedded dev chain the clinician's account is funded
for the gas; with --chain-url it pays its own and must hold ETH.

Example:
  vitalgate clinicians break-glass --key dr-lee.key --patient-address 0x70997970C51812dc3A010C7d01b50e0d17dc79C8 \\
    --reason-code 1 --reason "collapsed in the ward, unresponsive" --duration 30m`)
    .action(async (o: GlassOpts) => {
      if (!o.key) throw new Error('--key <file> is required: the clinician key file');
      if (!o.patientAddress || !isAddress(o.patientAddress)) throw new Error('--patient-address <0x…> is required');
      if (o.reasonCode === undefined || !/^\d+$/.test(o.reasonCode) || Number(o.reasonCode) > 255) throw new Error('--reason-code <n> is required: a number 0-255');
      if (!o.reason) throw new Error('--reason <text> is required');
      const duration = parseDurationSeconds(o.duration);
      const keys = readClinicianKeyFile(o.key);
      await withAdminChain(o, false, async (s) => {
        const me = new Wallet(keys.accountKey, s.provider);
        // The embedded chain's admin pays the demo clinician's gas; a real chain's clinician pays its own.
        if (s.embedded && s.admin && (await s.provider.getBalance(me.address)) < 10n ** 16n) {
          await (await s.admin.sendTransaction({ to: me.address, value: 10n ** 17n })).wait();
        }
        const patient = getAddress(o.patientAddress!);
        const tx = await sendTx(() => s.contracts.consent.connect(me).breakGlass(patient, Number(o.reasonCode), o.reason!, duration), (name, args) => {
          switch (name) {
            case 'NotClinician': return `${String(args[0])} is not a registered clinician`;
            case 'RequesterBanned': return `${String(args[0])} is banned: break-glass refused`;
            case 'InvalidReasonCode': return `reason code ${String(args[0])} is not one the contract knows: ${REASON_CODES}`;
            case 'InvalidDuration': return `--duration ${duration}s: at most ${String(args[1])} s`;
            case 'ReasonRequired': return '--reason must not be empty';
            case 'NotPatient': return `${patient} is not a registered patient`;
            default: return undefined;
          }
        }, `the clinician's account ${me.address} has no ETH to pay for the gas${s.embedded ? '' : ': with --chain-url it pays its own; send it some ETH on that chain'}`);
        const until = Number(await s.contracts.consent.breakGlassUntil(patient, me.address));
        const out = { clinician: me.address, patient, until, tx: tx.hash, block: tx.block };
        if (o.json) process.stdout.write(JSON.stringify(out) + '\n');
        else process.stdout.write(`BREAK-GLASS: ${me.address} may read ${patient}'s whole record until ${new Date(until * 1000).toISOString()}; the patient is told\n`);
      });
    });
}
