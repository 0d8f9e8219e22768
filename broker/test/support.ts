/**
 * Helpers for the process-level broker tests (restart, cluster failover): starting and killing
 * child processes, a gateway-like persistent-session subscriber that fails over between brokers,
 * and a device that publishes QoS 1 continuously and remembers which messages were acknowledged.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import mqtt, { type MqttClient } from 'mqtt';

export const CLI = fileURLToPath(new URL('../../../cli/dist/src/main.js', import.meta.url));
/** Test-only launcher: startBroker with the durable file persistence (see fixtures/durable-broker.ts). */
export const DURABLE_LAUNCHER = fileURLToPath(new URL('./fixtures/durable-broker.js', import.meta.url));

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export interface Proc {
  child: ChildProcess;
  /** Everything it wrote so far (stdout and stderr). */
  output(): string;
  /** Resolves when it has exited. */
  exited: Promise<void>;
  kill(signal: NodeJS.Signals): Promise<void>;
}

/** Spawns a program and resolves once its output matches `ready`. */
export function startProcess(cmd: string, args: string[], ready: RegExp, timeoutMs = 15_000): Promise<Proc> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    const exited = new Promise<void>((r) => child.once('exit', () => r()));
    const proc: Proc = {
      child,
      output: () => out,
      exited,
      kill: async (signal) => {
        if (child.exitCode === null && child.signalCode === null) child.kill(signal);
        await exited;
      },
    };
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${cmd} not ready within ${timeoutMs} ms: ${out}`));
    }, timeoutMs);
    let ok = false;
    const on = (d: Buffer) => {
      out += d.toString();
      if (out.length > 200_000) out = out.slice(-100_000);
      if (!ok && ready.test(out)) {
        ok = true;
        clearTimeout(timer);
        resolve(proc);
      }
    };
    child.stdout!.on('data', on);
    child.stderr!.on('data', on);
    child.once('exit', (c, s) => {
      clearTimeout(timer);
      if (!ok) reject(new Error(`${cmd} exited (${c ?? s}) before it was ready: ${out}`));
    });
  });
}

/** `vitalgate broker --redis` on a port. */
export function startCliBroker(port: number, redisUrl: string): Promise<Proc> {
  return startProcess(process.execPath, [CLI, 'broker', '--port', String(port), '--redis', redisUrl], /"event":"listening"/);
}

/** redis-server on loopback with an append-only file in `dir` (or none). */
export function startRedis(redisServer: string, port: number, dir?: string): Promise<Proc> {
  const persistence = dir ? ['--dir', dir, '--appendonly', 'yes', '--appendfsync', 'always'] : ['--appendonly', 'no'];
  return startProcess(redisServer, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', ...persistence], /Ready to accept connections/);
}

/**
 * A gateway-like subscriber: persistent session (clean: false), QoS 1, fixed clientId. It does its
 * own reconnecting, to the next URL in `urls` each time its connection drops (so it fails over from
 * a dead broker to a live one), and it records each message's `seq` and whether the first packet
 * on every connection was the CONNACK.
 */
export class Subscriber {
  readonly counts = new Map<number, number>();
  /** seqs in arrival order (with duplicates). */
  readonly arrivals: number[] = [];
  readonly firstPackets: string[] = [];
  connects = 0;
  #client: MqttClient | undefined;
  #urlIndex = 0;
  #stopped = false;
  #retry: NodeJS.Timeout | undefined;

  constructor(
    readonly clientId: string,
    readonly urls: string[],
    readonly filter: string,
    readonly reconnectDelayMs = 250,
  ) {}

  /** Connects to urls[0] and subscribes; resolves once subscribed. */
  async start(): Promise<void> {
    const c = this.#connect();
    await new Promise<void>((resolve, reject) => {
      c.once('connect', () => resolve());
      c.once('error', reject);
    });
    await c.subscribeAsync(this.filter, { qos: 1 });
  }

  #connect(): MqttClient {
    const url = this.urls[this.#urlIndex % this.urls.length]!;
    // A fresh options object per client: mqtt.connect writes into it.
    const c = mqtt.connect(url, { clientId: this.clientId, clean: false, reconnectPeriod: 0, connectTimeout: 5000 });
    this.#client = c;
    let first = true;
    c.on('packetreceive', (p) => {
      if (first) {
        first = false;
        this.firstPackets.push(p.cmd);
      }
    });
    c.on('connect', () => this.connects++);
    c.on('message', (_t, m) => {
      const seq = (JSON.parse(m.toString()) as { seq: number }).seq;
      this.arrivals.push(seq);
      this.counts.set(seq, (this.counts.get(seq) ?? 0) + 1);
    });
    c.on('error', () => undefined);
    c.on('close', () => {
      if (this.#stopped || c !== this.#client) return;
      this.#urlIndex++;
      this.#retry = setTimeout(() => this.#connect(), this.reconnectDelayMs);
    });
    return c;
  }

  get connected(): boolean {
    return this.#client?.connected ?? false;
  }

  /** Waits until every seq in `want` has arrived (or the time is up); returns those missing. */
  async waitFor(want: Iterable<number>, timeoutMs: number): Promise<number[]> {
    const wanted = [...want];
    const t0 = Date.now();
    let missing = wanted.filter((s) => !this.counts.has(s));
    while (missing.length && Date.now() - t0 < timeoutMs) {
      await sleep(50);
      missing = missing.filter((s) => !this.counts.has(s));
    }
    return missing;
  }

  /** Disconnects cleanly (DISCONNECT): the broker keeps the session and queues for it. */
  async pause(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#retry);
    await this.#client?.endAsync();
  }

  /** Reconnects (after pause) to `url`, or to the current URL. */
  async resume(url?: string): Promise<void> {
    this.#stopped = false;
    if (url) this.#urlIndex = this.urls.indexOf(url);
    const c = this.#connect();
    await new Promise<void>((resolve, reject) => {
      c.once('connect', () => resolve());
      c.once('error', reject);
    });
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#retry);
    await this.#client?.endAsync(true).catch(() => undefined);
  }
}

/**
 * A device publishing `{ seq }` at QoS 1 to `topic`, with up to `window` publishes in flight. It
 * fails over to the next URL when its connection drops. `acked` holds every seq whose PUBACK came.
 */
export class Device {
  readonly acked = new Set<number>();
  seq = 0;
  #client: MqttClient | undefined;
  #urlIndex = 0;
  #running = false;
  #pump: Promise<void> | undefined;
  #inflight = 0;

  constructor(
    readonly clientId: string,
    readonly urls: string[],
    readonly topic: string,
    readonly window = 10,
  ) {}

  async connect(): Promise<void> {
    const url = this.urls[this.#urlIndex % this.urls.length]!;
    const c = mqtt.connect(url, { clientId: this.clientId, reconnectPeriod: 0, connectTimeout: 5000 });
    this.#client = c;
    c.on('error', () => undefined);
    c.on('close', () => {
      if (c !== this.#client) return;
      this.#client = undefined;
      c.end(true);
      if (this.#running) {
        this.#urlIndex++;
        setTimeout(() => void this.connect().catch(() => undefined), 100);
      }
    });
    await new Promise<void>((resolve, reject) => {
      c.once('connect', () => resolve());
      c.once('error', reject);
    });
  }

  /** Publishes `n` messages one after another, each awaited. */
  async publishSerially(n: number): Promise<void> {
    for (let i = 0; i < n; i++) {
      const s = this.seq++;
      await this.#client!.publishAsync(this.topic, JSON.stringify({ seq: s }), { qos: 1 });
      this.acked.add(s);
    }
  }

  /** Starts publishing continuously, about one message per `intervalMs`. */
  start(intervalMs = 1): void {
    this.#running = true;
    this.#pump = (async () => {
      while (this.#running) {
        const c = this.#client;
        if (!c?.connected || this.#inflight >= this.window) {
          await sleep(1);
          continue;
        }
        const s = this.seq++;
        this.#inflight++;
        c.publishAsync(this.topic, JSON.stringify({ seq: s }), { qos: 1 })
          .then(() => void this.acked.add(s), () => undefined)
          .finally(() => this.#inflight--);
        await sleep(intervalMs);
      }
    })();
  }

  /** Stops publishing and waits (briefly) for outstanding acks. */
  async stopPublishing(): Promise<void> {
    this.#running = false;
    await this.#pump;
    const t0 = Date.now();
    while (this.#inflight > 0 && this.#client?.connected && Date.now() - t0 < 3000) await sleep(10);
  }

  async stop(): Promise<void> {
    this.#running = false;
    await this.#pump;
    const c = this.#client;
    this.#client = undefined;
    await c?.endAsync(true).catch(() => undefined);
  }
}

/** Asserts helper: seqs in first-arrival order, duplicates removed. */
export function firstArrivals(arrivals: number[]): number[] {
  const seen = new Set<number>();
  const out: number[] = [];
  for (const s of arrivals) {
    if (!seen.has(s)) {
      seen.add(s);
      out.push(s);
    }
  }
  return out;
}
