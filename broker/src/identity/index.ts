export {
  Registry, DEFAULT_REGISTRY_PATH, DEFAULT_SCRYPT, emptyRegistry, hashSecret, newSecret, parseRegistry, readRegistryFile, verifySecret,
  type AddOptions, type Added, type DeviceEntry, type GatewayEntry, type Identity, type RegistryData, type ScryptParams, type SecretHash,
} from './registry.js';
export {
  createRegistryPolicy, devicePublishVerdict, gatewayPublishVerdict, subscribeVerdict, DEFAULT_MAX_PAYLOAD_BYTES,
  type PolicyAction, type RegistryPolicy, type RegistryPolicyOptions, type RegistryPolicyStats,
} from './policy.js';
