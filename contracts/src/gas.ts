/**
 * Gas measurement on a fresh anvil (`vitalgate chain gas --json`), and what anchoring costs per reading
 * compared with the per-record designs that send one transaction per batch or per reading.
 */
import { randomBytes } from 'node:crypto';
import { Wallet, type ContractTransactionResponse } from 'ethers';
import { startAnvil } from './anvil.js';
import { SOLC_VERSION } from './generated/artifacts.js';
import {
  AuditLog__factory,
  Consent__factory,
  DataAnchor__factory,
  Registry__factory,
} from './generated/typechain/index.js';
import { consentDomain, signConsent, signRevoke } from './eip712.js';
import { patientRef, streamMask } from './ids.js';
import { buildBatchTree } from './merkle.js';
import { createProvider } from './provider.js';
import type { ContractName } from './deploy.js';

/** What one anchor period of a fleet of devices produces. */
export interface AnchoringProfile {
  name: string;
  devices: number;
  /** Messages (readings: a waveform frame or one scalar value) per second per device. */
  messagesPerSecondPerDevice: number;
  /** Streams per device (each becomes its own batches). */
  streamsPerDevice: number;
  /** Seconds between anchors (one transaction per gateway per period). */
  anchorPeriodSeconds: number;
  /** Seconds of readings per batch (one batch per device, stream and window). */
  batchWindowSeconds: number;
}

/**
 * The default mixed profile (device-sim's "mixed": ECG 250 Hz in 25-sample frames = 10/s, PPG 64 Hz in
 * 32-sample frames = 2/s, HR 1/s, SpO2 1/s, temperature 0.1/s = 14.1 messages/s, 5 streams) at 1000
 * devices, 30 s anchor period, 2 s batches.
 */
export const MIXED_PROFILE_1000: AnchoringProfile = {
  name: 'mixed',
  devices: 1000,
  messagesPerSecondPerDevice: 14.1,
  streamsPerDevice: 5,
  anchorPeriodSeconds: 30,
  batchWindowSeconds: 2,
};

export interface AnchoringComparison {
  profile: AnchoringProfile;
  /** devices × messages/s/device × anchor period = 1000 × 14.1 × 30 = 423,000 */
  readingsPerPeriod: number;
  /** devices × streams × (period / window) = 1000 × 5 × 15 = 75,000 (an upper bound: a 0.1 Hz stream fills 3 of 15 windows) */
  batchesPerPeriod: number;
  /** Gas of the one anchor transaction per period (independent of the batch count). */
  anchorGas: number;
  /** anchorGas / readingsPerPeriod */
  gasPerReadingAnchored: number;
  /** A per-batch design: one anchor-like transaction (anchor with count 1) per batch. */
  oneTxPerBatch: { txGas: number; gasPerPeriod: number; gasPerReading: number };
  /** A per-record design: one such transaction per reading. */
  oneTxPerReading: { txGas: number; gasPerPeriod: number; gasPerReading: number };
}

/**
 * gasPerReadingAnchored     = anchorGas / readingsPerPeriod
 * one tx per batch, per reading   = txGas × batchesPerPeriod / readingsPerPeriod
 * one tx per reading, per reading = txGas
 * where txGas is the gas of one anchor-like transaction covering one batch (anchor with count 1).
 */
export function anchoringComparison(
  anchorGas: number,
  oneBatchTxGas: number,
  profile: AnchoringProfile = MIXED_PROFILE_1000,
): AnchoringComparison {
  const readingsPerPeriod = Math.round(profile.devices * profile.messagesPerSecondPerDevice * profile.anchorPeriodSeconds);
  const windows = Math.ceil(profile.anchorPeriodSeconds / profile.batchWindowSeconds);
  const batchesPerPeriod = profile.devices * profile.streamsPerDevice * windows;
  return {
    profile,
    readingsPerPeriod,
    batchesPerPeriod,
    anchorGas,
    gasPerReadingAnchored: anchorGas / readingsPerPeriod,
    oneTxPerBatch: {
      txGas: oneBatchTxGas,
      gasPerPeriod: oneBatchTxGas * batchesPerPeriod,
      gasPerReading: (oneBatchTxGas * batchesPerPeriod) / readingsPerPeriod,
    },
    oneTxPerReading: {
      txGas: oneBatchTxGas,
      gasPerPeriod: oneBatchTxGas * readingsPerPeriod,
      gasPerReading: oneBatchTxGas,
    },
  };
}

/** The state-changing functions measured, each on its first call (cold storage). */
export type MeasuredFunction =
  | 'registerGateway'
  | 'registerPatient'
  | 'registerClinician'
  | 'setEncryptionKey'
  | 'createCareTeam'
  | 'addCareTeamMember'
  | 'grant'
  | 'grantBySig'
  | 'revoke'
  | 'revokeBySig'
  | 'breakGlass'
  | 'reportDenied'
  | 'ban'
  | 'unban'
  | 'anchor'
  | 'anchorAccessLog';

export interface GasReport {
  solc: string;
  chainId: number;
  /** The uri passed to anchor and anchorAccessLog (its length is in the calldata and the event). */
  uri: string;
  /** Gas of each contract's deployment. */
  deployment: Record<ContractName, number>;
  functions: Record<MeasuredFunction, number>;
  /** anchor's gas by the number of batches the root covers: the same but for calldata bytes of `count`. */
  anchorByCount: { count: number; gasUsed: number }[];
  /** The headline number: anchor gas per reading for the mixed profile at 1000 devices. */
  gasPerReadingAnchored: number;
  anchoring: AnchoringComparison;
}

export interface MeasureGasOptions {
  uri?: string;
  profile?: AnchoringProfile;
}

/** A representative anchor uri (52 bytes). */
export const DEFAULT_ANCHOR_URI = 'vitalgate://gateway-0001/anchors/2026-01-01T00:00:30Z';

/**
 * Starts a fresh in-memory anvil, deploys, calls every state-changing function once and returns the gas
 * each used; stops anvil. Takes a few seconds (building a real 75,000-batch tree included).
 */
export async function measureGas(opts: MeasureGasOptions = {}): Promise<GasReport> {
  const profile = opts.profile ?? MIXED_PROFILE_1000;
  const uri = opts.uri ?? DEFAULT_ANCHOR_URI;
  const node = await startAnvil();
  const provider = createProvider(node.url, node.chainId);
  try {
    const [admin, gateway, patient, clinician, requester, relayer] = node.accounts
      .slice(0, 6)
      .map((a) => new Wallet(a.privateKey, provider)) as [Wallet, Wallet, Wallet, Wallet, Wallet, Wallet];
    const gasOf = async (tx: Promise<ContractTransactionResponse>): Promise<number> => {
      const receipt = await (await tx).wait();
      if (!receipt) throw new Error('no receipt');
      return Number(receipt.gasUsed);
    };
    const deployGas = async <T extends { deploymentTransaction(): ContractTransactionResponse | null }>(
      p: Promise<T>,
    ): Promise<[T, number]> => {
      const c = await p;
      const receipt = await c.deploymentTransaction()!.wait();
      return [c, Number(receipt!.gasUsed)];
    };

    const [registry, gRegistry] = await deployGas(new Registry__factory(admin).deploy(admin.address, 5));
    const registryAddress = await registry.getAddress();
    const [consent, gConsent] = await deployGas(new Consent__factory(admin).deploy(registryAddress, 4 * 3600));
    const [dataAnchor, gAnchor] = await deployGas(new DataAnchor__factory(admin).deploy(registryAddress));
    const [auditLog, gAudit] = await deployGas(new AuditLog__factory(admin).deploy(registryAddress));
    await (await registry.grantRole(await registry.AUDITOR_ROLE(), admin.address)).wait();
    await (await registry.grantRole(await registry.BREAK_GLASS_ROLE(), await consent.getAddress())).wait();

    const f = {} as Record<MeasuredFunction, number>;
    f.registerGateway = await gasOf(registry.registerGateway(gateway.address));
    f.registerPatient = await gasOf(registry.registerPatient(patient.address, patientRef('patient-0001'), gateway.address));
    const key33 = `0x02${randomBytes(32).toString('hex')}`;
    f.registerClinician = await gasOf(registry.registerClinician(clinician.address, key33));
    f.setEncryptionKey = await gasOf(registry.connect(clinician).setEncryptionKey(`0x03${randomBytes(32).toString('hex')}`));
    f.createCareTeam = await gasOf(registry.createCareTeam('cardiology ward 3'));
    const team = await registry.careTeamAddress(1);
    f.addCareTeamMember = await gasOf(registry.addCareTeamMember(team, clinician.address));

    const now = Math.floor(Date.now() / 1000);
    const latest = await provider.getBlock('latest');
    const chainNow = Number(latest?.timestamp ?? now);
    const streams = streamMask([0, 1, 2, 3, 4]);
    const dataFrom = chainNow * 1000 - 86_400_000;
    const dataUntil = chainNow * 1000 + 30 * 86_400_000;
    const expiry = chainNow + 30 * 86_400;
    const purpose = 'treatment';
    const consentP = consent.connect(patient);
    f.grant = await gasOf(consentP.grant(clinician.address, streams, dataFrom, dataUntil, expiry, purpose));
    f.revoke = await gasOf(consentP.revoke(clinician.address));

    const domain = consentDomain(node.chainId, await consent.getAddress());
    const deadline = chainNow + 3600;
    const nonce0 = await consent.nonces(patient.address);
    const sig = await signConsent(patient, domain, {
      patient: patient.address,
      grantee: team,
      streams,
      dataFrom,
      dataUntil,
      expiry,
      purpose,
      nonce: nonce0,
      deadline,
    });
    const consentR = consent.connect(relayer);
    f.grantBySig = await gasOf(
      consentR.grantBySig(patient.address, team, streams, dataFrom, dataUntil, expiry, purpose, nonce0, deadline, sig),
    );
    const revokeSig = await signRevoke(patient, domain, { patient: patient.address, grantee: team, nonce: nonce0 + 1n, deadline });
    f.revokeBySig = await gasOf(consentR.revokeBySig(patient.address, team, nonce0 + 1n, deadline, revokeSig));
    f.breakGlass = await gasOf(consent.connect(clinician).breakGlass(patient.address, 0, 'unconscious on arrival, no consent on file', 3600));

    f.reportDenied = await gasOf(registry.reportDenied(requester.address, 1));
    f.ban = await gasOf(registry.ban(requester.address, 'scraping records'));
    f.unban = await gasOf(registry.unban(requester.address));

    // Anchors: a real root over the profile's batches, and a one-batch root (the per-batch designs' transaction).
    const comparisonProfile = anchoringComparison(0, 0, profile);
    const bigTree = buildBatchTree(Array.from({ length: comparisonProfile.batchesPerPeriod }, () => randomBytes(32)));
    const oneTree = buildBatchTree([randomBytes(32)]);
    const t0 = chainNow * 1000;
    const t1 = t0 + profile.anchorPeriodSeconds * 1000 - 1;
    const anchorG = dataAnchor.connect(gateway);
    const gasBig = await gasOf(anchorG.anchor(bigTree.root, bigTree.count, t0, t1, uri));
    const gasOne = await gasOf(anchorG.anchor(oneTree.root, 1, t0, t0 + profile.batchWindowSeconds * 1000 - 1, uri));
    f.anchor = gasBig;
    const logTree = buildBatchTree(Array.from({ length: 1000 }, () => randomBytes(32)));
    f.anchorAccessLog = await gasOf(auditLog.anchorAccessLog(logTree.root, logTree.count, t0, t1, uri));

    const anchoring = anchoringComparison(gasBig, gasOne, profile);
    return {
      solc: SOLC_VERSION,
      chainId: node.chainId,
      uri,
      deployment: { Registry: gRegistry, Consent: gConsent, DataAnchor: gAnchor, AuditLog: gAudit },
      functions: f,
      anchorByCount: [
        { count: 1, gasUsed: gasOne },
        { count: bigTree.count, gasUsed: gasBig },
      ],
      gasPerReadingAnchored: anchoring.gasPerReadingAnchored,
      anchoring,
    };
  } finally {
    provider.destroy();
    await node.stop();
  }
}
