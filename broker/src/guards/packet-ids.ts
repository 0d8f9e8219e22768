/**
 * Packet ids the broker gives its QoS 1/2 publishes to a client must be "currently unused"
 * [MQTT-2.3.1-1]. aedes draws them from a counter that starts at a random value for each new
 * connection, and does not look at the session it resumes: packets queued for the client from an
 * earlier connection keep their old ids and are sent again with them. A new publish that draws
 * one of those ids, once acknowledged, removes the *older* packet from the queue (acknowledgements
 * match by id), and if the client had not taken that older message in durably, it is lost. A
 * gateway that acknowledges only once durable and restarts under load hit this within ten kills.
 *
 * The counter is replaced, per client, by one that skips ids the persistence still holds for
 * that client. Persistences that cannot answer (a Redis cluster store) keep aedes' counter.
 */
import type { Client } from 'aedes';

/** What the persistence can tell about a client's unacknowledged packet ids. */
export interface PacketIdSource {
  outgoingIdInUse?(clientId: string, messageId: number): boolean;
}

const MAX_ID = 65_535;

export function useFreePacketIds(client: Client, persistence: PacketIdSource): void {
  const inUse = persistence.outgoingIdInUse?.bind(persistence);
  if (!inUse) return;
  const c = client as unknown as { _nextId: number; id: string };
  let next = c._nextId;
  // aedes reads the counter, compares it with 65535, then increments it: each read must give the
  // same free id until it is set again.
  Object.defineProperty(c, '_nextId', {
    configurable: true,
    enumerable: true,
    get(): number {
      let id = next;
      for (let tries = 0; tries < MAX_ID && inUse(c.id, id); tries++) id = id >= MAX_ID ? 1 : id + 1;
      next = id;
      return id;
    },
    set(v: number) {
      next = v;
    },
  });
}
