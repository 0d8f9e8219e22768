/**
 * Follows a gateway's index.jsonl while the gateway appends to it: only new bytes are read, a
 * partial last line waits for the next read. Keeps what the bench needs per batch (durableAt) and
 * running totals.
 */
import { open } from 'node:fs/promises';

export interface IndexLine {
  id: string;
  deviceId: string;
  count: number;
  durableAt: number;
}

export class IndexTail {
  private offset = 0;
  private partial = '';
  readonly durableAt = new Map<string, number>();
  batches = 0;
  /** Readings in batches not from an excluded device. */
  readings = 0;
  lastDurableAt = 0;
  firstDurableAt = Infinity;
  /** Batches of excluded devices seen (e.g. the saturation marker). */
  excludedBatches = 0;
  /** Summary records (a line with a `kind`, e.g. summary-1m): not readings, so not in `readings`. */
  summaries = 0;
  malformed = 0;

  constructor(readonly path: string, private readonly exclude: ReadonlySet<string> = new Set()) {}

  /** Reads whatever was appended since the last call. A missing file counts as empty. */
  async poll(): Promise<void> {
    let fh;
    try {
      fh = await open(this.path, 'r');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw e;
    }
    try {
      const { size } = await fh.stat();
      if (size <= this.offset) return;
      const buf = Buffer.allocUnsafe(size - this.offset);
      let got = 0;
      while (got < buf.length) {
        const { bytesRead } = await fh.read(buf, got, buf.length - got, this.offset + got);
        if (bytesRead === 0) break;
        got += bytesRead;
      }
      this.offset += got;
      const text = this.partial + buf.toString('utf8', 0, got);
      const nl = text.lastIndexOf('\n');
      this.partial = text.slice(nl + 1);
      if (nl >= 0) this.consume(text.slice(0, nl));
    } finally {
      await fh.close();
    }
  }

  private consume(text: string): void {
    for (const line of text.split('\n')) {
      if (!line) continue;
      let r: Partial<IndexLine>;
      try {
        r = JSON.parse(line) as Partial<IndexLine>;
      } catch {
        this.malformed++;
        continue;
      }
      if (typeof r.id !== 'string' || typeof r.durableAt !== 'number' || typeof r.count !== 'number') {
        this.malformed++;
        continue;
      }
      this.durableAt.set(r.id, r.durableAt);
      // The gateway indexes its minute and hour summaries beside the batches; counting them as
      // readings made a drain look complete while acknowledged readings were still on their way.
      if ((r as { kind?: unknown }).kind !== undefined) {
        this.summaries++;
        continue;
      }
      if (r.deviceId !== undefined && this.exclude.has(r.deviceId)) {
        this.excludedBatches++;
        continue;
      }
      this.batches++;
      this.readings += r.count;
      if (r.durableAt > this.lastDurableAt) this.lastDurableAt = r.durableAt;
      if (r.durableAt < this.firstDurableAt) this.firstDurableAt = r.durableAt;
    }
  }
}

/**
 * Waits until the gateway has sealed `acked` readings (as the index shows), giving it its own batch
 * windows so the last readings' latency is not shortened by a flush on stop. Gives up after 180 s,
 * or after 15 s without progress; throws if the gateway exits. Returns whether it drained.
 */
export async function waitForSealed(
  tail: IndexTail, acked: () => number, gateway: { alive: boolean; stderrTail(): string },
  progress: (sealed: number, acked: number) => void,
): Promise<boolean> {
  let last = { t: Date.now(), readings: -1 };
  const deadline = Date.now() + 180_000;
  let lastLog = Date.now();
  while (Date.now() < deadline) {
    await tail.poll();
    if (tail.readings >= acked()) return true;
    if (tail.readings !== last.readings) last = { t: Date.now(), readings: tail.readings };
    else if (Date.now() - last.t > 15_000) return false;
    if (!gateway.alive) throw new Error(`the gateway exited during the run${gateway.stderrTail()}`);
    if (Date.now() - lastLog > 3000) {
      lastLog = Date.now();
      progress(tail.readings, acked());
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return false;
}
