/**
 * The progress line of a publishing run, every 3 s: seconds done, acknowledged readings and their
 * rate since the last line, what the gateway has sealed (read from its index), and CPU per process.
 */
import type { Log } from './child.js';
import { fmtCpu, type CpuMeter } from './cpu-meter.js';
import type { IndexTail } from './index-tail.js';

export interface ProgressOptions {
  tag: string;
  seconds: number;
  tail: IndexTail;
  cpu: CpuMeter;
  log: Log;
  acked(): number;
  /** What the scenario adds after the rate (in flight, failed, …). */
  detail(): string;
}

/** Starts the line; the returned function stops it. */
export function startProgress(o: ProgressOptions): () => void {
  const started = Date.now();
  let last = { t: started, acked: 0 };
  const ticker = setInterval(() => {
    void o.tail.poll().catch(() => undefined).then(() => {
      const now = Date.now();
      const acked = o.acked();
      const rate = ((acked - last.acked) * 1000) / Math.max(1, now - last.t);
      last = { t: now, acked };
      o.log(`${o.tag}: ${((now - started) / 1000).toFixed(0)}/${o.seconds}s acked ${acked} (${rate.toFixed(0)}/s) ${o.detail()} sealed ${o.tail.readings} | cpu% ${fmtCpu(o.cpu.interval())}`);
    });
  }, 3000);
  return () => clearInterval(ticker);
}
