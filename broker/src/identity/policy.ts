/**
 * A BrokerPolicy built from the identity registry.
 *
 * Connect: username = device or gateway id, password = its secret, and the MQTT clientId must
 * equal the username exactly. (Not "start with": ids may contain '.', '-' and '_', so a prefix
 * rule would let device "d1" take clientId "d1.x" and, by MQTT's takeover rule, kick device
 * "d1.x" off. One identity therefore has one session; a second connect with the same id takes
 * the first one over, as MQTT specifies.) Failures get CONNACK 4 (bad username or password), or
 * 2 (identifier rejected) for a clientId that is not the username.
 *
 * ACLs (everything else is denied):
 * - device d of patient p: publish vg/v1/p/d/{stream} for its registered streams and
 *   vg/v1/p/d/status; subscribe only vg/v1/p/d/cmd.
 * - gateway bound to patients P: subscribe to filters inside vg/v1/{p ∈ P}/… (patient level
 *   literal, e.g. vg/v1/p/+/+ or vg/v1/p/#); publish only commands vg/v1/{p ∈ P}/{device}/cmd,
 *   never readings or status.
 *
 * A denied SUBSCRIBE is granted QoS 128 (failure). A denied PUBLISH is dropped and, because
 * MQTT 3.1.1 has no way to refuse one publish and aedes knows no other answer, the client is
 * disconnected (Mosquitto drops silently instead; either way nothing is delivered). Every denial
 * is logged (warn: client, topic, reason) and counted by action and reason (stats()).
 *
 * Wills: a will is a publish the client makes when it dies, so it must obey the same publish rules.
 * A will outside them is refused at CONNECT (CONNACK 5, counted as connect:will-{reason}). A
 * stored will published with no live client (after a broker restart or a dead cluster peer)
 * comes with `client` null and is judged by the rules of the id that set it
 * (publish:stored-will-{reason} when refused); a publish with no client and no owner is refused.
 *
 * Revocation: the policy remembers the connected client of each id; when the registry emits
 * 'revoked' (registry.revoke(id), a replaced secret, or a reloaded file) that client is closed at
 * once, and its later connects fail.
 *
 * Optional limits per client: maxPayloadBytes, and a publish rate enforced by backpressure (a
 * client over its rate waits; the broker stops reading its socket). Secret checks run
 * at most maxConcurrentAuth at a time, with at most maxPendingAuth waiting (CONNACK 3 beyond).
 *
 * Mutual TLS: on a listener with client certificates, a certificate verified against the CA
 * logs the client in as its CN (which must equal the clientId and be active in the registry);
 * no password is needed. Connections per identity are capped at one by construction: the
 * clientId must equal the identity, and MQTT's takeover rule closes the older session.
 */
import type { Client } from 'aedes';
import pLimit from 'p-limit';
import pino, { type Logger } from 'pino';
import { TOPIC_ROOT, isValidId } from '@vitalgate/protocol';
import type { BrokerPolicy, PolicyCounters } from '../broker.js';
import { clientCertificateId } from '../listeners.js';
import { DEFAULT_SCRYPT, hashSecret, verifySecret, type Identity, type Registry, type SecretHash } from './registry.js';

export interface RegistryPolicyOptions {
  /** Denials are logged at warn, revocations at info. Default: pino to stderr at info. */
  logger?: Logger;
  /** Largest accepted PUBLISH payload per message. Default 256 KiB. */
  maxPayloadBytes?: number;
  /**
   * Publish rate per client: `perSecond` sustained, `burst` at once. Beyond it publishes are held
   * back (the client's socket is not read meanwhile), not refused. Default: no limit.
   */
  publishRate?: { perSecond: number; burst: number };
  /**
   * Secret checks (scrypt N=2^15: ~150 ms of CPU and 32 MiB each) running at once. Default 2:
   * noble's scrypt shares the event loop, so more at once adds memory, not speed. A connect flood
   * then queues instead of exhausting CPU and memory; see maxPendingAuth.
   */
  maxConcurrentAuth?: number;
  /**
   * Connects waiting for a secret check beyond which new ones get CONNACK 3 (server unavailable).
   * Default 32, so a good device waits at most ~2.5 s behind a flood of bad logins.
   */
  maxPendingAuth?: number;
}

export type PolicyAction = 'connect' | 'publish' | 'subscribe';

export interface RegistryPolicyStats extends PolicyCounters {
  byAction: Record<PolicyAction, number>;
  /** Clients disconnected because their credential was revoked or changed. */
  revokedDisconnects: number;
  /** Publishes held back to their client's publishRate (not refused: they wait for their slot). */
  throttled: number;
}

export interface RegistryPolicy extends BrokerPolicy {
  stats(): RegistryPolicyStats;
  /** Ids with a connected (authenticated, not closed) client. */
  connectedIds(): string[];
  /** Stops listening to the registry. */
  close(): void;
}

export const DEFAULT_MAX_PAYLOAD_BYTES = 256 * 1024;

type Verdict = { ok: true } | { ok: false; reason: string };
const OK: Verdict = { ok: true };
const no = (reason: string): Verdict => ({ ok: false, reason });

export function devicePublishVerdict(i: Identity & { kind: 'device' }, topic: string): Verdict {
  const parts = topic.split('/');
  if (parts.length !== 5 || `${parts[0]}/${parts[1]}` !== TOPIC_ROOT) return no('not-a-device-topic');
  if (parts[2] !== i.entry.patient) return no('other-patient');
  if (parts[3] !== i.id) return no('other-device');
  const leaf = parts[4]!;
  if (leaf === 'status') return OK;
  if (leaf === 'cmd') return no('device-may-not-publish-commands');
  if (!(i.entry.streams as string[]).includes(leaf)) return no('unregistered-stream');
  return OK;
}

export function gatewayPublishVerdict(i: Identity & { kind: 'gateway' }, topic: string): Verdict {
  const parts = topic.split('/');
  if (parts.length !== 5 || `${parts[0]}/${parts[1]}` !== TOPIC_ROOT || parts[4] !== 'cmd') return no('gateway-may-only-publish-commands');
  if (!i.entry.patients.includes(parts[2]!)) return no('other-patient');
  if (!isValidId(parts[3]!)) return no('bad-device-id');
  return OK;
}

export function subscribeVerdict(i: Identity, filter: string): Verdict {
  const parts = filter.split('/');
  if (i.kind === 'device') {
    return filter === `${TOPIC_ROOT}/${i.entry.patient}/${i.id}/cmd` ? OK : no('device-may-only-subscribe-own-cmd');
  }
  if (parts.length < 4 || parts.length > 5 || `${parts[0]}/${parts[1]}` !== TOPIC_ROOT) return no('outside-patient-subtree');
  if (!i.entry.patients.includes(parts[2]!)) return no('other-patient');
  return OK;
}

function refuse(code: 2 | 3 | 4 | 5, message: string): Error & { returnCode: number } {
  return Object.assign(new Error(message), { returnCode: code });
}

export function createRegistryPolicy(registry: Registry, opts: RegistryPolicyOptions = {}): RegistryPolicy {
  const log = opts.logger ?? pino({ name: 'broker-policy', level: 'info' }, pino.destination(2));
  const maxPayload = opts.maxPayloadBytes ?? DEFAULT_MAX_PAYLOAD_BYTES;
  const rate = opts.publishRate;
  const connected = new Map<string, Client>();
  const authSlots = pLimit(opts.maxConcurrentAuth ?? 2);
  const maxPending = opts.maxPendingAuth ?? 32;
  const buckets = new Map<string, { at: number }>();
  const counters: RegistryPolicyStats = { total: 0, byReason: {}, byAction: { connect: 0, publish: 0, subscribe: 0 }, revokedDisconnects: 0, throttled: 0 };
  // Unknown usernames still cost one hash, so response time does not tell which ids exist.
  let dummy: Promise<SecretHash> | undefined;

  const deny = (action: PolicyAction, client: Client | null, reason: string, extra: Record<string, unknown> = {}): void => {
    counters.total++;
    counters.byAction[action]++;
    const key = `${action}:${reason}`;
    counters.byReason[key] = (counters.byReason[key] ?? 0) + 1;
    log.warn({ client: client?.id, action, reason, ...extra }, `${action} denied: ${reason}`);
  };

  /**
   * The publish rate as backpressure (GCRA): each publish reserves the next slot of the client's
   * schedule; within the burst the slot is now, beyond it the publish waits for its slot. aedes
   * reads a connection's next bytes only once every packet already read has been authorised, so
   * a waiting publish stops that client's socket from being read: a flooder is slowed to its
   * rate by TCP itself and costs the broker no more than its rate, while its data is not lost.
   * Returns the wait in ms (0 = now).
   */
  const reserveSlot = (id: string): number => {
    if (!rate) return 0;
    const now = performance.now();
    const interval = 1000 / rate.perSecond;
    const b = buckets.get(id) ?? { at: now };
    // `at` is the theoretical arrival time of the next publish; a burst may run ahead of it.
    const tat = Math.max(b.at, now);
    const wait = Math.max(0, tat - now - (rate.burst - 1) * interval);
    b.at = tat + interval;
    buckets.set(id, b);
    return wait;
  };

  const onRevoked = (id: string, why: string): void => {
    buckets.delete(id);
    const c = connected.get(id);
    connected.delete(id);
    if (c && !c.closed) {
      counters.revokedDisconnects++;
      log.info({ client: id, reason: why }, 'credential no longer valid: disconnecting');
      c.close();
    }
  };
  registry.on('revoked', onRevoked);

  const publishVerdict = (id: string, topic: string, bytes: number): Verdict => {
    const i = registry.active(id);
    if (!i) return no('revoked');
    if (bytes > maxPayload) return no('payload-too-large');
    return i.kind === 'device' ? devicePublishVerdict(i, topic) : gatewayPublishVerdict(i, topic);
  };

  const authenticate: NonNullable<BrokerPolicy['authenticate']> = (client, username, password, done) => {
    const fail = (code: 2 | 3 | 4 | 5, reason: string, message: string): void => {
      deny('connect', client, reason, { username });
      done(refuse(code, message) as never, false);
    };
    /** Logs `id` in, unless the will it asks for breaks its own publish rules. */
    const admit = (id: string): void => {
      const will = (client as unknown as { _will?: { topic: string; payload: Uint8Array } })._will;
      if (will) {
        const v = publishVerdict(id, will.topic, will.payload.length);
        if (!v.ok) return fail(5, `will-${v.reason}`, 'not authorized');
      }
      connected.set(id, client);
      done(null, true);
    };
    // Mutual TLS: the TLS layer has verified the certificate against the CA, and its CN names
    // the identity. The registry still decides whether that identity is active and what it may do.
    const certId = clientCertificateId(client.conn);
    if (certId !== undefined) {
      if (client.id !== certId) return fail(2, 'certificate-client-id-mismatch', 'clientId must equal the certificate CN');
      if (username && username !== certId) return fail(4, 'certificate-username-mismatch', 'username differs from the certificate CN');
      if (!registry.active(certId)) return fail(5, registry.get(certId) ? 'revoked' : 'unknown-id', 'not authorized');
      return admit(certId);
    }
    if (!username || !password) return fail(4, 'missing-credentials', 'username and password required');
    if (client.id !== username) return fail(2, 'client-id-mismatch', 'clientId must equal the username');
    if (authSlots.pendingCount >= maxPending) return fail(3, 'auth-overloaded', 'server busy, retry later');
    const identity = registry.active(username);
    const check = authSlots(() =>
      identity
        ? verifySecret(password, identity.entry.secret)
        : (dummy ??= hashSecret('x', DEFAULT_SCRYPT)).then((h) => verifySecret(password, h)).then(() => false),
    );
    check.then((good) => {
      // Re-read: the credential may have been revoked or replaced while we were hashing.
      const now = registry.active(username);
      if (!good || !now || now.entry.secret !== identity?.entry.secret) {
        const reason = identity ? (now ? 'bad-password' : 'revoked') : registry.get(username) ? 'revoked' : 'unknown-id';
        return fail(4, reason, 'bad username or password');
      }
      if (client.closed) return done(refuse(4, 'gone') as never, false);
      admit(username);
    }, (e: Error) => {
      log.error({ client: client.id, err: e }, 'authentication failed with an error');
      done(refuse(4, 'bad username or password') as never, false);
    });
  };

  const authorizePublish: NonNullable<BrokerPolicy['authorizePublish']> = (client, packet, cb) => {
    if (!client) {
      // A stored will with nobody connected: judged by the rules of the id that set it.
      const owner = (packet as { clientId?: unknown }).clientId;
      const v = typeof owner === 'string' ? publishVerdict(owner, packet.topic, packet.payload.length) : no('no-owner');
      if (v.ok) return cb(null);
      deny('publish', null, `stored-will-${v.reason}`, { owner: typeof owner === 'string' ? owner : undefined, topic: packet.topic.slice(0, 256) });
      return cb(new Error(`stored will on ${packet.topic.slice(0, 256)} denied: ${v.reason}`));
    }
    const v = publishVerdict(client.id, packet.topic, packet.payload.length);
    if (v.ok) {
      const wait = reserveSlot(client.id);
      if (wait === 0) return cb(null);
      counters.throttled++;
      setTimeout(() => cb(null), wait);
      return;
    }
    deny('publish', client, v.reason, { topic: packet.topic.slice(0, 256), bytes: packet.payload.length });
    cb(new Error(`publish to ${packet.topic.slice(0, 256)} denied: ${v.reason}`));
  };

  const authorizeSubscribe: NonNullable<BrokerPolicy['authorizeSubscribe']> = (client, sub, cb) => {
    const i = registry.active(client.id);
    const v = i ? subscribeVerdict(i, sub.topic) : no('revoked');
    if (v.ok) return cb(null, sub);
    deny('subscribe', client, v.reason, { topic: sub.topic.slice(0, 256) });
    cb(null, null); // granted 128: failure
  };

  return {
    authenticate,
    authorizePublish,
    authorizeSubscribe,
    stats: () => structuredClone(counters),
    connectedIds: () => [...connected].filter(([, c]) => !c.closed).map(([id]) => id),
    close: () => {
      registry.off('revoked', onRevoked);
    },
  };
}
