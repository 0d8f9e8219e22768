// The broker's public entry point: every name is listed (no barrels of internals).

// The broker and its listeners
export {
  startBroker, DEFAULT_BROKER_PORT, DEFAULT_MAX_PACKET_BYTES,
  type BrokerOptions, type BrokerPolicy, type BrokerStats, type PolicyCounters, type RunningBroker,
} from './broker.js';
export { deliverLocally, DEFAULT_PUBACK_COALESCE_MS, type LocalConsumer, type LocalDelivery, type LocalDeliveryOptions } from './local-delivery.js';
export {
  openListener, clientCertificateId, isLoopbackHost, DEFAULT_WS_PATH,
  type ClientCertMode, type ListenerOptions, type ListenerProtocol, type OpenListener, type TlsFiles,
} from './listeners.js';
export {
  createBrokerMetrics, dropReason, serveMetrics,
  type BrokerMetrics, type BrokerMetricsSources, type MetricsServer,
} from './metrics.js';

// persistence/
export {
  MemoryPersistence, createMemoryPersistence,
  type AedesAsyncPersistence, type MemoryPersistenceOptions, type PersistedPacket,
} from './persistence/memory.js';
export { FilePersistence, openFilePersistence, type FilePersistenceOptions } from './persistence/file/index.js';

// guards/
export { limitPacketSize, type PacketGuardOptions } from './guards/packet-guard.js';
export { limitConnectAttempts, remoteAddressOf, type ConnectLimitOptions, type ConnectLimitStats } from './guards/auth-guard.js';
export { markRedeliveries, publishBeforeAck, withDeliveryGuards } from './guards/delivery-guards.js';
export { holdOnBacklog, DEFAULT_MAX_BACKLOG, type BacklogGuard, type BacklogGuardOptions, type BacklogGuardStats } from './guards/backlog-guard.js';

// identity/
export {
  Registry, DEFAULT_REGISTRY_PATH, DEFAULT_SCRYPT, emptyRegistry, hashSecret, newSecret, parseRegistry, readRegistryFile, verifySecret,
  type AddOptions, type Added, type DeviceEntry, type GatewayEntry, type Identity, type RegistryData, type ScryptParams, type SecretHash,
  createRegistryPolicy, devicePublishVerdict, gatewayPublishVerdict, subscribeVerdict, DEFAULT_MAX_PAYLOAD_BYTES,
  type PolicyAction, type RegistryPolicy, type RegistryPolicyOptions, type RegistryPolicyStats,
} from './identity/index.js';

// cluster/
export { redisBackends, type RedisBackends } from './cluster/cluster.js';
