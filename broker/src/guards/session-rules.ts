/**
 * Rules every Vitalgate broker enforces, with identity on or off, wrapped around the policy's hooks:
 *
 * - **Readings are never retained.** A retained PUBLISH (or a retained will) on a reading topic
 *   is refused: a retained reading would be delivered again to every gateway that subscribes,
 *   and sealed again after each restart.
 * - **Wills published with no live client** (after a restart on `--persistence-dir`, or for a dead
 *   cluster peer) go to the policy with `client` null and `packet.clientId` naming the will's
 *   owner, and the registry policy judges them by that id's rules. A refused stored will is
 *   deleted, so it is not tried again at every sweep.
 * - **[MQTT-3.1.3-8]** A zero-byte ClientId with CleanSession 0 gets CONNACK 2 and the connection
 *   is closed. aedes would make up an id and give it a session nobody can resume.
 * - **[MQTT-2.3.1-1]** Packet ids sent to a client are never ones its session still holds
 *   (packet-ids.ts).
 * - **[MQTT-1.5.3-1] [MQTT-1.5.3-2]** A ClientId, username, will topic, topic name or topic filter
 *   holding U+0000 or ill-formed UTF-8 closes the connection. mqtt-packet decodes strings without
 *   checking them and turns ill-formed sequences (encoded surrogates included) into U+FFFD, so a
 *   U+FFFD is refused as well (MQTT lets a server refuse any publish by closing, [MQTT-3.3.5-2];
 *   Vitalgate topics are ASCII ids anyway).
 * - **[MQTT-3.3.1-3]** An incoming PUBLISH's DUP flag is cleared before it is forwarded.
 * - **[MQTT-4.7.1-2] [MQTT-4.7.1-3]** A topic filter whose '#' is not a whole last level or whose
 *   '+' is not a whole level ("a#", "+a", "a/+b") closes the connection, as aedes does for the
 *   other malformed filters; aedes' own check lets these through.
 *
 * aedes calls authorizePublish for stored wills from its will sweep and emits 'error' when it is
 * refused; broker.ts listens for that, so a refused will is logged, not a crash.
 */
import type { Client, PublishPacket } from 'aedes';
import type { Logger } from 'pino';
import { isReadingTopic } from '@vitalgate/protocol';
import type { BrokerPolicy } from '../broker.js';
import { useFreePacketIds, type PacketIdSource } from './packet-ids.js';

export interface SessionRuleStats {
  retainedReadingsRefused: number;
  storedWillsRefused: number;
  emptyClientIdRefused: number;
}

interface WillStore extends PacketIdSource {
  delWill(client: { id: string; brokerId?: string }): Promise<unknown>;
}

type Hooks = Required<Pick<BrokerPolicy, 'authenticate' | 'authorizePublish' | 'authorizeSubscribe'>> & {
  preConnect: (client: Client, packet: { clientId: string; clean?: boolean }, cb: (err: Error | null, ok: boolean) => void) => void;
  stats(): SessionRuleStats;
};

/** U+0000 [MQTT-1.5.3-2], or U+FFFD: what ill-formed UTF-8 became in mqtt-packet's decoding [MQTT-1.5.3-1]. */
const badString = (s: string | undefined): boolean => s !== undefined && /[\u0000\ufffd]/.test(s);

/** '#' only as the whole last level, '+' only as a whole level [MQTT-4.7.1-2] [MQTT-4.7.1-3]. */
function badWildcards(filter: string): boolean {
  const levels = filter.split('/');
  return levels.some((l, i) => (l.includes('#') && (l !== '#' || i !== levels.length - 1)) || (l.includes('+') && l !== '+'));
}

function refuse(code: 2 | 5, message: string): Error & { returnCode: number } {
  return Object.assign(new Error(message), { returnCode: code });
}

export function sessionRules(policy: BrokerPolicy | undefined, persistence: WillStore, log: Logger): Hooks {
  const stats: SessionRuleStats = { retainedReadingsRefused: 0, storedWillsRefused: 0, emptyClientIdRefused: 0 };
  const emptyPersistentId = new WeakSet<Client>();
  const willOf = (client: Client): PublishPacket | undefined => (client as unknown as { _will?: PublishPacket })._will;

  const preConnect: Hooks['preConnect'] = (client, packet, cb) => {
    const p = packet as { clientId: string; username?: string; will?: { topic?: string } };
    if (badString(p.clientId) || badString(p.username) || badString(p.will?.topic)) {
      log.warn({ reason: 'bad-utf8' }, 'connect refused: U+0000 or ill-formed UTF-8 in a string [MQTT-1.5.3-1/2]');
      return cb(new Error('U+0000 or ill-formed UTF-8 in CONNECT'), false);
    }
    if (packet.clientId.length === 0 && !packet.clean) emptyPersistentId.add(client);
    useFreePacketIds(client, persistence);
    cb(null, true);
  };

  const authenticate: Hooks['authenticate'] = (client, username, password, done) => {
    if (emptyPersistentId.has(client)) {
      stats.emptyClientIdRefused++;
      log.warn({ reason: 'empty-client-id-persistent-session' }, 'connect refused: a zero-byte ClientId needs CleanSession 1 [MQTT-3.1.3-8]');
      return done(refuse(2, 'identifier rejected') as never, false);
    }
    const will = willOf(client);
    if (will?.retain && isReadingTopic(will.topic)) {
      stats.retainedReadingsRefused++;
      log.warn({ client: client.id, topic: will.topic.slice(0, 256), reason: 'retained-reading' }, 'connect refused: a will may not retain a reading');
      return done(refuse(5, 'not authorized') as never, false);
    }
    if (policy?.authenticate) return policy.authenticate(client, username, password, done);
    done(null, true);
  };

  const authorizePublish: Hooks['authorizePublish'] = (client, packet, cb) => {
    if (badString(packet.topic)) return cb(new Error('U+0000 or ill-formed UTF-8 in a topic name'));
    // DUP is per hop [MQTT-3.3.1-3]: a client's retransmission is a first delivery for subscribers
    // (aedes would copy the flag into every forwarded copy and into retained messages).
    if (client) packet.dup = false;
    if (packet.retain && isReadingTopic(packet.topic)) {
      stats.retainedReadingsRefused++;
      log.warn({ client: client?.id, topic: packet.topic.slice(0, 256), reason: 'retained-reading' }, 'publish denied: readings are never retained');
      return cb(new Error('readings may not be retained'));
    }
    const inner = policy?.authorizePublish;
    if (!inner) return cb(null);
    if (client) return inner(client, packet, cb);
    inner(null as unknown as Client, packet, (err) => {
      if (!err) return cb(null);
      stats.storedWillsRefused++;
      const owner = (packet as PublishPacket & { clientId?: string; brokerId?: string });
      if (typeof owner.clientId === 'string') {
        persistence.delWill({ id: owner.clientId, brokerId: owner.brokerId }).then(undefined, (e: Error) => log.error({ err: e.message }, 'could not delete a refused will'));
      }
      cb(err);
    });
  };

  const authorizeSubscribe: Hooks['authorizeSubscribe'] = (client, sub, cb) => {
    if (badString(sub.topic)) return cb(new Error('U+0000 or ill-formed UTF-8 in a topic filter'), null);
    if (badWildcards(sub.topic)) return cb(new Error('wildcards must occupy a whole level'), null);
    if (policy?.authorizeSubscribe) return policy.authorizeSubscribe(client, sub, cb);
    cb(null, sub);
  };

  return { preConnect, authenticate, authorizePublish, authorizeSubscribe, stats: () => ({ ...stats }) };
}
