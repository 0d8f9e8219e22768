/**
 * A raw MQTT 3.1.1 client for conformance tests: a TCP socket that writes exactly the bytes given
 * (or an mqtt-packet encoding) and records every packet the broker sends back and whether, and
 * when, the broker closed the connection.
 */
import { connect as tcpConnect, type Socket } from 'node:net';
import mqttPacket from 'mqtt-packet';

export type Packet = mqttPacket.Packet;

export class RawClient {
  readonly packets: Packet[] = [];
  /** Resolves (with the time) once the broker closed the connection. */
  readonly closed: Promise<number>;
  isClosed = false;
  readonly #sock: Socket;
  readonly #waiters: Array<() => void> = [];

  private constructor(sock: Socket) {
    this.#sock = sock;
    const parser = mqttPacket.parser({ protocolVersion: 4 });
    parser.on('packet', (p) => {
      this.packets.push(p);
      this.#wake();
    });
    parser.on('error', () => undefined);
    sock.on('data', (d) => parser.parse(d));
    sock.on('error', () => undefined);
    this.closed = new Promise((resolve) => sock.once('close', () => {
      this.isClosed = true;
      this.#wake();
      resolve(Date.now());
    }));
  }

  static open(port: number): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const sock = tcpConnect(port, '127.0.0.1');
      sock.setNoDelay(true);
      sock.once('connect', () => resolve(new RawClient(sock)));
      sock.once('error', reject);
    });
  }

  /** Opens a connection, sends CONNECT and waits for the CONNACK. */
  static async connect(port: number, connect: Partial<mqttPacket.IConnectPacket> & { clientId: string }): Promise<{ client: RawClient; connack: mqttPacket.IConnackPacket }> {
    const client = await RawClient.open(port);
    client.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, keepalive: 30, clean: true, ...connect });
    const connack = (await client.next('connack')) as mqttPacket.IConnackPacket;
    return { client, connack };
  }

  #wake(): void {
    for (const w of this.#waiters.splice(0)) w();
  }

  /** Writes a packet (encoded by mqtt-packet) or raw bytes. */
  send(p: Packet | Buffer | number[]): void {
    if (this.isClosed) return;
    const bytes = Buffer.isBuffer(p) ? p : Array.isArray(p) ? Buffer.from(p) : mqttPacket.generate(p, { protocolVersion: 4 });
    this.#sock.write(bytes);
  }

  /** Waits for the first packet (from `from` on) matching `cmd` and `pred`; rejects after `timeoutMs` or on close. */
  async next<C extends Packet['cmd']>(cmd: C, pred: (p: Extract<Packet, { cmd: C }>) => boolean = () => true, timeoutMs = 1500): Promise<Extract<Packet, { cmd: C }>> {
    const t0 = Date.now();
    let from = 0;
    for (;;) {
      for (; from < this.packets.length; from++) {
        const p = this.packets[from]!;
        if (p.cmd === cmd && pred(p as Extract<Packet, { cmd: C }>)) {
          this.packets.splice(from, 1);
          return p as Extract<Packet, { cmd: C }>;
        }
      }
      if (this.isClosed) throw new Error(`connection closed before a ${cmd} came (got ${this.packets.map((q) => q.cmd).join(',') || 'nothing'})`);
      const left = timeoutMs - (Date.now() - t0);
      if (left <= 0) throw new Error(`no ${cmd} within ${timeoutMs} ms (got ${this.packets.map((q) => q.cmd).join(',') || 'nothing'})`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.#waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  /** Whether the broker closes the connection within `timeoutMs`. */
  async closesWithin(timeoutMs = 1000): Promise<boolean> {
    if (this.isClosed) return true;
    return Promise.race([this.closed.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), timeoutMs).unref())]);
  }

  /** Publishes (from this connection) and, for QoS 1, waits for its PUBACK. */
  async publish(topic: string, payload: string | Buffer, opts: { qos?: 0 | 1; retain?: boolean; messageId?: number; dup?: boolean } = {}): Promise<void> {
    const qos = opts.qos ?? 0;
    const messageId = opts.messageId ?? (qos > 0 ? nextId() : undefined);
    this.send({ cmd: 'publish', topic, payload: Buffer.from(payload), qos, retain: opts.retain ?? false, dup: opts.dup ?? false, ...(messageId !== undefined && { messageId }) } as Packet);
    if (qos === 1) await this.next('puback', (p) => p.messageId === messageId);
  }

  /** Subscribes and returns the SUBACK's granted list. */
  async subscribe(filters: Array<[string, 0 | 1 | 2]>, messageId = nextId()): Promise<number[]> {
    this.send({ cmd: 'subscribe', messageId, subscriptions: filters.map(([topic, qos]) => ({ topic, qos })) } as Packet);
    const suback = await this.next('suback', (p) => p.messageId === messageId);
    return suback.granted as number[];
  }

  /** PUBLISH packets received so far on `topic` (or all), removed from the buffer. */
  take(topic?: string): mqttPacket.IPublishPacket[] {
    const out: mqttPacket.IPublishPacket[] = [];
    for (let i = 0; i < this.packets.length;) {
      const p = this.packets[i]!;
      if (p.cmd === 'publish' && (topic === undefined || p.topic === topic)) {
        out.push(p);
        this.packets.splice(i, 1);
      } else i++;
    }
    return out;
  }

  /** DISCONNECT then close. */
  disconnect(): void {
    this.send({ cmd: 'disconnect' });
    this.#sock.end();
  }

  /** Drops the TCP connection without DISCONNECT (an abnormal close for the broker). */
  destroy(): void {
    this.#sock.destroy();
  }
}

let id = 0;
function nextId(): number {
  id = (id % 65_000) + 1;
  return id;
}

/** Bytes of a CONNECT for `clientId` with the given connect-flags byte, protocol name and level. */
export function connectBytes(clientId: string | Buffer, opts: { flags?: number; name?: string; level?: number; keepalive?: number } = {}): Buffer {
  const name = Buffer.from(opts.name ?? 'MQTT');
  const id = Buffer.isBuffer(clientId) ? clientId : Buffer.from(clientId, 'utf8');
  const body = Buffer.concat([
    u16(name.length), name,
    Buffer.from([opts.level ?? 4, opts.flags ?? 0x02]),
    u16(opts.keepalive ?? 30),
    u16(id.length), id,
  ]);
  return Buffer.concat([Buffer.from([0x10]), remainingLength(body.length), body]);
}

/** Bytes of a PUBLISH (QoS 0 unless `header` says otherwise) whose topic is `topic` verbatim. */
export function publishBytes(topic: Buffer, payload: Buffer, header = 0x30, messageId?: number): Buffer {
  const body = Buffer.concat([u16(topic.length), topic, messageId !== undefined ? u16(messageId) : Buffer.alloc(0), payload]);
  return Buffer.concat([Buffer.from([header]), remainingLength(body.length), body]);
}

/** Bytes of a SUBSCRIBE with filters given verbatim, and the fixed-header flags given. */
export function subscribeBytes(messageId: number, filters: Array<[Buffer, number]>, header = 0x82): Buffer {
  const body = Buffer.concat([u16(messageId), ...filters.flatMap(([f, qos]) => [u16(f.length), f, Buffer.from([qos])])]);
  return Buffer.concat([Buffer.from([header]), remainingLength(body.length), body]);
}

export function u16(n: number): Buffer {
  return Buffer.from([n >> 8, n & 0xff]);
}

export function remainingLength(n: number): Buffer {
  const out: number[] = [];
  do {
    let b = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) b |= 0x80;
    out.push(b);
  } while (n > 0);
  return Buffer.from(out);
}
