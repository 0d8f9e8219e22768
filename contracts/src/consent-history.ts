/**
 * A patient's consent history, rebuilt from the Consent contract's events: every grant with its
 * status now (active, expired, revoked, or replaced by a later grant to the same grantee), and every
 * break-glass access with whether its session is still running.
 */
import type { JsonRpcProvider } from 'ethers';
import { getAddress } from 'ethers';
import { BREAK_GLASS_REASONS, streamById } from '@vitalgate/protocol';
import { connectContracts, type Deployment } from './deploy.js';
import { streamIdsOf } from './ids.js';
import { expiryIso } from './revert-reasons.js';

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

/** Stream names of a streams bitmask. */
export function streamNames(mask: number): string[] {
  return streamIdsOf(mask).map((id) => streamById(id)?.name ?? `stream-${id}`);
}

/**
 * "Now" as the contracts will see it: the next block's time, which is the later of the latest block's
 * and the wall clock (anvil mines at the wall clock; an idle chain's latest block may be old).
 */
export async function chainNow(provider: JsonRpcProvider): Promise<number> {
  const b = await provider.getBlock('latest');
  return Math.max(Number(b?.timestamp ?? 0), Math.floor(Date.now() / 1000));
}

export interface ConsentHistoryOptions {
  provider: JsonRpcProvider;
  deployment: Deployment;
  /** The patient's account; undefined (unknown) gives no entries. */
  patient: string | undefined;
  /** Every grant ever made, replaced ones too (default: the latest per grantee). */
  history?: boolean;
}

/** The patient's grants and break-glass accesses, in chain order, with their status at chain time `now`. */
export async function readConsentHistory(o: ConsentHistoryOptions): Promise<{ patientAddress?: string; now: number; items: (GrantEntry | BreakGlassEntry)[] }> {
  const { provider, deployment } = o;
  const now = await chainNow(provider);
  const address = o.patient;
  const { registry, consent } = connectContracts(deployment, provider);
  if (!address || !(await registry.isPatient(address))) return { now, items: [] };

  const from = deployment.deployedAtBlock;
  const [granted, revoked, glass] = await Promise.all([
    consent.queryFilter(consent.filters.Granted(address), from, 'latest'),
    consent.queryFilter(consent.filters.Revoked(address), from, 'latest'),
    consent.queryFilter(consent.filters.BreakGlass(address), from, 'latest'),
  ]);
  const blockTimes = new Map<number, number>();
  await Promise.all([...new Set([...granted, ...revoked, ...glass].map((e) => e.blockNumber))].map(async (n) => {
    const b = await provider.getBlock(n);
    blockTimes.set(n, Number(b?.timestamp ?? 0));
  }));
  const timeOf = (n: number) => expiryIso(blockTimes.get(n) ?? 0);

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
        dataFrom: Number(a.dataFrom), dataUntil: Number(a.dataUntil), expiry, expiresAt: expiryIso(expiry),
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
        until, untilIso: expiryIso(until), status: now < until ? 'active' : 'ended', block: ev.e.blockNumber, tx: ev.e.transactionHash,
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
  return { patientAddress: address, now, items: shown };
}
