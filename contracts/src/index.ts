/**
 * @vitalgate/contracts: the Solidity contracts' typed ethers v6 bindings, deployment, the embedded anvil
 * chain, batch Merkle helpers, EIP-712 consent signing and gas measurement. See docs/contracts.md.
 */
export {
  ANVIL_DEFAULT_CHAIN_ID,
  ANVIL_DEV_ACCOUNTS,
  ANVIL_DEV_KEYS,
  anvilBinaryPath,
  startAnvil,
  type AnvilNode,
  type DevAccount,
  type StartAnvilOptions,
} from './anvil.js';
export {
  BYTECODE_HASH,
  CONTRACT_NAMES,
  DEFAULT_BREAK_GLASS_SECONDS,
  DEFAULT_DENY_THRESHOLD,
  connectContracts,
  deployContracts,
  deployOrLoad,
  isDeploymentLive,
  readDeployment,
  writeDeployment,
  type ContractName,
  type DeployOptions,
  type DeployResult,
  type Deployment,
  type VitalgateContracts,
} from './deploy.js';
export {
  CONSENT_DOMAIN_NAME,
  CONSENT_DOMAIN_VERSION,
  CONSENT_TYPES,
  REVOKE_TYPES,
  consentDomain,
  signConsent,
  signRevoke,
  type ConsentMessage,
  type RevokeMessage,
  type TypedDataSigner,
} from './eip712.js';
export {
  DEFAULT_ANCHOR_URI,
  MIXED_PROFILE_1000,
  anchoringComparison,
  measureGas,
  type AnchoringComparison,
  type AnchoringProfile,
  type GasReport,
  type MeasureGasOptions,
  type MeasuredFunction,
} from './gas.js';
export { createProvider } from './provider.js';
export { ALL_STREAMS, MAX_DATA_TS, MAX_EXPIRY, STREAM_COUNT, patientRef, streamIdsOf, streamMask } from './ids.js';
export {
  BatchMerkleTree,
  LEAF_ENCODING,
  batchLeaf,
  buildAccessLogTree,
  buildBatchTree,
  bytes32,
  toBytes32Hex,
  verifyBatchProof,
  type Bytes32Like,
  type Hex,
  type StandardTreeDump,
} from './merkle.js';
export {
  SOLC_VERSION,
  auditLogAbi,
  auditLogBytecode,
  consentAbi,
  consentBytecode,
  dataAnchorAbi,
  dataAnchorBytecode,
  registryAbi,
  registryBytecode,
} from './generated/artifacts.js';
export {
  AuditLog__factory,
  Consent__factory,
  DataAnchor__factory,
  Registry__factory,
  type AuditLog,
  type Consent,
  type DataAnchor,
  type Registry,
} from './generated/typechain/index.js';
export type {
  TypedContractEvent,
  TypedEventLog,
  TypedLogDescription,
  TypedListener,
} from './generated/typechain/common.js';
export { AccessFollower, type AccessChange, type AccessWindow, type FollowerLogger } from './access-follower.js';
export {
  decodeRevert,
  explainConsentError,
  sendConsentTx,
  expiryIso,
  type ConsentErrorContext,
} from './revert-reasons.js';
export {
  readConsentHistory,
  chainNow,
  streamNames,
  type ConsentHistoryOptions,
  type GrantEntry,
  type BreakGlassEntry,
} from './consent-history.js';
