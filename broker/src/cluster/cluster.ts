/**
 * Several broker processes behaving as one, the way aedes deployments scale: messages fan out
 * through Redis pub/sub (mqemitter-redis) and sessions, subscriptions, retained messages and QoS 1
 * queues live in Redis (aedes-persistence-redis). A client may connect to any instance, and after
 * one dies its clients reconnect to another and find their persistent session there.
 *
 * Three things the stock combination gets wrong, and which this module corrects:
 * - A gateway failing over to an instance that is receiving publishes for it was usually sent a
 *   PUBLISH before its CONNACK, which stalls MQTT.js for good (its queue then looked "lost").
 *   withDeliveryGuards holds those writes until CONNACK is out (see delivery-guards.ts).
 * - aedes sends PUBACK before it stores a QoS 1 message, so an instance killed in between had
 *   acknowledged messages that were never in Redis. withDeliveryGuards stores first.
 * - aedes-persistence-redis replays at most 1001 queued messages per reconnect (maxSessionDelivery
 *   1000); the rest stayed in Redis until some later reconnect. A gateway that was offline for a
 *   while must get its whole backlog, so the limit is lifted.
 */
import { createRequire } from 'node:module';
import { Readable } from 'node:stream';
import { withDeliveryGuards } from '../guards/delivery-guards.js';
import type { AedesAsyncPersistence } from '../persistence/memory.js';

const require = createRequire(import.meta.url);

export interface RedisBackends {
  /** aedes `mq` option. */
  mq: unknown;
  persistence: AedesAsyncPersistence;
}

export function redisBackends(url: string): RedisBackends {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new Error(`--redis must be a redis://host:port URL, got ${url}`);
  }
  if (u.protocol !== 'redis:') throw new Error(`--redis must be a redis://host:port URL, got ${url}`);
  const opts = { host: u.hostname, port: Number(u.port || 6379), ...(u.password ? { password: decodeURIComponent(u.password) } : {}) };
  const MQEmitterRedis = require('mqemitter-redis') as (o: object) => unknown;
  // The promise-style class: aedes 1.x calls persistence methods without callbacks.
  const AsyncRedisPersistence = require('aedes-persistence-redis/asyncPersistence.js') as new (o: object) => AedesAsyncPersistence;
  // maxSessionDelivery is the last LRANGE index of a reconnecting client's queue: -1 = all of it.
  const persistence = new AsyncRedisPersistence({ ...opts, maxSessionDelivery: -1 });
  return { mq: MQEmitterRedis(opts), persistence: withDeliveryGuards(streamsAsReadables(persistence)) };
}

/** The persistence methods whose results aedes pipes, so they must be Node streams. */
const STREAM_METHODS = new Set(['createRetainedStream', 'createRetainedStreamCombi', 'outgoingStream', 'streamWill', 'getClientList']);

/**
 * aedes-persistence-redis returns async iterables where aedes 1.x calls `.pipe()`; the in-memory
 * persistence returns Readables. This view turns such results into Readables and leaves the rest
 * (bound, so the class's private fields keep working) untouched.
 */
function streamsAsReadables<T extends object>(p: T): T {
  return new Proxy(p, {
    get(target, prop) {
      const v = Reflect.get(target, prop, target) as unknown;
      if (typeof v !== 'function') return v;
      if (typeof prop === 'string' && STREAM_METHODS.has(prop)) {
        return (...args: unknown[]) => {
          const r = (v as (...a: unknown[]) => unknown).apply(target, args) as { pipe?: unknown } & AsyncIterable<unknown>;
          return typeof r?.pipe === 'function' ? r : Readable.from(r);
        };
      }
      return (v as (...a: unknown[]) => unknown).bind(target);
    },
  });
}
