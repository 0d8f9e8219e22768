/**
 * Operational telemetry (request counts, latencies, queue depths…) to InfluxDB 1.x, buffered and
 * written every few seconds.
 *
 * Telemetry is not data: losing some is acceptable, slowing or failing the service for it is not.
 * So `write` never throws and never waits, a failed flush keeps the points for the next one, and
 * while InfluxDB is down the buffer is bounded by dropping the oldest points (counted, and warned
 * about once per outage).
 *
 * Field names must be on an allowlist fixed at construction. Telemetry sits next to code that
 * handles readings, a metric is one line to add, and InfluxDB keeps whatever it is sent, in plain
 * text, outside the sealed batches and their keys. A field called `hr` or `spo2` written by mistake
 * would put a patient's vital signs where no access control or key rotation reaches them. The
 * allowlist turns that mistake into a refused point and a warning, instead of a silent leak.
 */
import type { IPoint } from 'influx';
import { influxConnection, influxError, type InfluxConnection, type InfluxConnectionOptions } from '../catalog/influx-catalog.js';

export interface TelemetryPoint {
  measurement: string;
  /** Labels (route, status, instance…): low-cardinality, and never a reading either. */
  tags?: Record<string, string>;
  /** Numeric values only; each name must be on the allowlist. */
  fields: Record<string, number>;
  /** Default: when `write` was called. */
  time?: Date;
}

export interface InfluxTelemetryOptions extends InfluxConnectionOptions {
  /** Every field name a point may carry. Anything else refuses the whole point. */
  allowedFields: readonly string[];
  /** Default 10 s. */
  flushIntervalMs?: number;
  /** Points kept while InfluxDB is unreachable; beyond it the oldest are dropped. Default 10,000. */
  maxBufferedPoints?: number;
  /** CREATE DATABASE before the first write (a no-op when it exists). Default true. */
  createDatabase?: boolean;
  /** Where warnings go (a pino logger's `warn` fits). Default: process.emitWarning. */
  warn?: (message: string) => void;
}

export interface TelemetryStats {
  written: number;
  /** Dropped because the buffer was full while InfluxDB could not be written. */
  dropped: number;
  /** Refused by the allowlist or as malformed. */
  refused: number;
  buffered: number;
}

/** Points per HTTP write; InfluxDB recommends batches of a few thousand. */
const WRITE_CHUNK = 5000;
const points = (n: number): string => `${n} point${n === 1 ? '' : 's'}`;
const NAME = /^[A-Za-z_][A-Za-z0-9_.-]{0,127}$/;

export class InfluxTelemetry {
  private readonly c: InfluxConnection;
  private readonly allowed: ReadonlySet<string>;
  private readonly max: number;
  private readonly warn: (message: string) => void;
  private readonly createDatabase: boolean;
  private buffer: IPoint[] = [];
  private readonly timer: NodeJS.Timeout;
  private flushing: Promise<void> | undefined;
  private databaseReady = false;
  private stopped = false;
  /** InfluxDB could not be reached at the last attempt; warned once, reported when it ends. */
  private inOutage = false;
  private droppedInOutage = 0;
  private readonly refusedNames = new Set<string>();
  private readonly counters = { written: 0, dropped: 0, refused: 0 };

  constructor(o: InfluxTelemetryOptions) {
    if (!Array.isArray(o.allowedFields) || o.allowedFields.length === 0) throw new Error('InfluxTelemetry needs allowedFields: the field names it may write');
    for (const f of o.allowedFields) if (!NAME.test(f)) throw new Error(`InfluxTelemetry: ${JSON.stringify(f)} is not a usable field name`);
    this.c = influxConnection({ requestTimeoutMs: 5000, ...o }, 'vitalgate_telemetry');
    this.allowed = new Set(o.allowedFields);
    this.max = o.maxBufferedPoints ?? 10_000;
    this.createDatabase = o.createDatabase ?? true;
    this.warn = o.warn ?? ((m) => process.emitWarning(m, 'VitalgateTelemetry'));
    // unref: pending telemetry must not keep a process alive that is otherwise done.
    this.timer = setInterval(() => void this.flush(), o.flushIntervalMs ?? 10_000).unref();
  }

  describe(): string {
    return `InfluxDB telemetry at ${this.c.where}`;
  }

  stats(): TelemetryStats {
    return { ...this.counters, buffered: this.buffer.length };
  }

  /** Queues a point. Returns false (and warns once per name) if refused; never throws. */
  write(p: TelemetryPoint): boolean {
    try {
      if (this.stopped) return this.refuse('telemetry stopped: point not written');
      if (typeof p?.measurement !== 'string' || !NAME.test(p.measurement)) return this.refuse(`telemetry point refused: measurement ${JSON.stringify(String(p?.measurement).slice(0, 40))} is not a usable name`);
      const fields: Record<string, number> = {};
      const names = Object.keys(p.fields ?? {});
      if (names.length === 0) return this.refuse(`telemetry point ${p.measurement} refused: no fields`);
      for (const name of names) {
        // Never echo the value: a refused field may be exactly the reading that must not leak.
        if (!this.allowed.has(name)) return this.refuse(`telemetry point ${p.measurement} refused: field ${JSON.stringify(name.slice(0, 40))} is not on the allowlist`, name);
        const v = p.fields[name];
        // One non-finite number would make InfluxDB reject the whole write it travels in.
        if (typeof v !== 'number' || !Number.isFinite(v)) return this.refuse(`telemetry point ${p.measurement} refused: field ${name} is not a finite number`);
        fields[name] = v;
      }
      const tags: Record<string, string> = {};
      for (const [k, v] of Object.entries(p.tags ?? {})) {
        if (!NAME.test(k) || typeof v !== 'string') return this.refuse(`telemetry point ${p.measurement} refused: tag ${JSON.stringify(k.slice(0, 40))} is not a usable name or its value is not a string`);
        if (v !== '') tags[k] = v; // line protocol has no empty tag value
      }
      const time = p.time instanceof Date && Number.isFinite(p.time.getTime()) ? p.time : new Date();
      this.buffer.push({ measurement: p.measurement, tags, fields, timestamp: time });
      if (this.buffer.length > this.max) this.drop(this.buffer.length - this.max);
      return true;
    } catch {
      this.counters.refused += 1;
      return false;
    }
  }

  /** Writes what is buffered. Never rejects: a failure keeps the points for the next flush. */
  flush(): Promise<void> {
    this.flushing ??= this.flushOnce().finally(() => { this.flushing = undefined; });
    return this.flushing;
  }

  /** Stops the timer and flushes once more; what cannot be written then is dropped, with a warning. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    clearInterval(this.timer);
    await this.flushing;
    await this.flush();
    if (this.buffer.length > 0) {
      this.counters.dropped += this.buffer.length;
      this.warn(`telemetry: ${points(this.buffer.length)} not written at stop (${this.c.where} unreachable)`);
      this.buffer = [];
    }
  }

  private refuse(message: string, name?: string): false {
    this.counters.refused += 1;
    const key = name ?? message;
    if (!this.refusedNames.has(key)) {
      this.refusedNames.add(key);
      this.warn(message);
    }
    return false;
  }

  private drop(n: number): void {
    this.buffer.splice(0, n);
    this.counters.dropped += n;
    if (this.droppedInOutage === 0) this.warn(`telemetry: buffer full (${this.max} points) while ${this.c.where} cannot be written; dropping the oldest points`);
    this.droppedInOutage += n;
  }

  private async flushOnce(): Promise<void> {
    if (this.buffer.length > 0 && !this.databaseReady && this.createDatabase) {
      try {
        await this.c.influx.createDatabase(this.c.database);
      } catch (e) {
        const err = influxError(this.c, 'creating the telemetry database', e);
        if (err.unreachable) return this.outage(err);
        // Perhaps a user without admin rights on an existing database: the writes will tell.
        this.warn(`telemetry: ${err.message}; writing anyway`);
      }
      this.databaseReady = true;
    }
    while (this.buffer.length > 0) {
      const chunk = this.buffer.slice(0, WRITE_CHUNK);
      try {
        await this.c.influx.writePoints(chunk, { database: this.c.database, precision: 'ms' });
      } catch (e) {
        const err = influxError(this.c, 'writing telemetry', e);
        if (err.unreachable) return this.outage(err);
        // Refused (a 4xx) fails the same way every time: drop it rather than block all that follow.
        this.buffer.splice(0, chunk.length);
        this.counters.dropped += chunk.length;
        this.warn(`telemetry: ${points(chunk.length)} dropped: ${err.message}`);
        continue;
      }
      this.buffer.splice(0, chunk.length);
      this.counters.written += chunk.length;
      if (this.inOutage) {
        this.warn(`telemetry: ${this.c.where} is written again${this.droppedInOutage > 0 ? `; ${points(this.droppedInOutage)} were dropped meanwhile` : ''}`);
        this.inOutage = false;
        this.droppedInOutage = 0;
      }
    }
  }

  private outage(err: Error): void {
    if (!this.inOutage) this.warn(`telemetry: ${err.message}; keeping up to ${this.max} points until it is back`);
    this.inOutage = true;
  }
}
