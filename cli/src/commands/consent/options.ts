/** Options and option parsers of `vitalgate consent …`. */
import type { Command } from 'commander';
import { getAddress, isAddress, ZeroAddress } from 'ethers';
import { ALL_STREAMS, MAX_DATA_TS, MAX_EXPIRY } from '@vitalgate/contracts';
import { STREAMS, STREAM_NAMES, isStreamName, isValidId } from '@vitalgate/protocol';
import { DEFAULT_DATA_DIR } from '../../options.js';
import { ALLOW_DEMO_OPTION } from '../../passphrase.js';

export interface ChainOpts { dataDir: string; chainUrl?: string; deployment?: string }
export interface PatientOpts extends ChainOpts { patient?: string; passphraseFile?: string; allowDemoPassphrase?: boolean; json?: boolean }
export interface GrantOpts extends PatientOpts {
  to?: string; streams: string; from?: string; until?: string; expires: string; purpose?: string;
  gasless?: boolean; registerClinician?: boolean;
}
export interface RevokeOpts extends PatientOpts { to?: string; gasless?: boolean }
export interface ListOpts extends ChainOpts { patient?: string; patientAddress?: string; passphraseFile?: string; allowDemoPassphrase?: boolean; json?: boolean; history?: boolean }

export function chainOptions(cmd: Command): Command {
  return cmd
    .option('--data-dir <dir>', 'gateway data directory (its keystore holds the patients\' chain keys; its chain/ the embedded chain)', DEFAULT_DATA_DIR)
    .option('--chain-url <url>', 'JSON-RPC URL of the gateway\'s chain (default: the embedded chain in <data-dir>/chain, started for this command)')
    .option('--deployment <file>', 'deployment file, with --chain-url (default: <data-dir>/chain/deployment.json)');
}

export function patientOptions(cmd: Command): Command {
  return chainOptions(cmd)
    .option('--patient <id>', 'the patient, by its off-chain id (e.g. patient-0001; required): its chain key is sealed in the gateway keystore')
    .option('--passphrase-file <file>', 'file holding the gateway passphrase (or set VITALGATE_PASSPHRASE_FILE)')
    .option(...ALLOW_DEMO_OPTION);
}

export const CHAIN_HELP = [
  '',
  'Chain: by default the embedded anvil chain in <data-dir>/chain is started for the command and stopped',
  'after it (do not run it while `vitalgate start`/`run` uses the same data directory: pass --chain-url',
  'instead). There the dev admin key registers the patient on first use and pays for --gasless. With',
  '--chain-url the patient must already be registered (an admin registers it with the gateway), and',
  '--gasless is relayed and paid for by this gateway\'s own chain account.',
].join('\n');

export function requirePatientId(v: string | undefined): string {
  if (v === undefined || v === '') throw new Error('--patient <id> is required (the patient\'s off-chain id, e.g. patient-0001)');
  if (!isValidId(v) || `eth-patient-${v}`.length > 64) throw new Error(`invalid patient id ${JSON.stringify(v)}: use 1-52 of A-Z a-z 0-9 . _ - (starting with a letter or digit)`);
  return v;
}

export function requireAddress(name: string, v: string | undefined): string {
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
