/**
 * What the bench measures of processes, through /proc: peak memory, CPU seconds of one process and of
 * the whole machine, and CpuMeter, which turns them into % of a core over an interval.
 */
import { readFileSync } from 'node:fs';
import { cpus } from 'node:os';

export function procStatusKb(pid: number, field: string): number {
  try {
    const m = new RegExp(`^${field}:\\s+(\\d+)\\s+kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

const CLK_TCK = 100; // sysconf(_SC_CLK_TCK) is 100 on every Linux Node supports.

export function procCpuSeconds(pid: number): number | undefined {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the ")" that closes the command name: state is field 3, utime 14, stime 15.
    const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / CLK_TCK;
  } catch {
    return undefined;
  }
}

/** Whole-machine busy and total CPU seconds (all cores), from /proc/stat. */
export function machineCpuSeconds(): { busy: number; total: number } | undefined {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n')[0]!;
    const v = line.trim().split(/\s+/).slice(1).map(Number);
    const total = v.reduce((a, b) => a + b, 0);
    const idle = (v[3] ?? 0) + (v[4] ?? 0);
    return { busy: (total - idle) / CLK_TCK, total: total / CLK_TCK };
  } catch {
    return undefined;
  }
}

/**
 * CPU use of each process over an interval, as % of one core, plus the machine's busy % of all
 * cores and `otherProcesses`: % of one core used by processes that are not part of the bench.
 */
export class CpuMeter {
  private start: Snapshot;
  private last: Snapshot;

  constructor(private readonly procs: ReadonlyArray<{ name: string; child: { cpuSeconds(): number | undefined } }>) {
    this.start = this.snap();
    this.last = this.start;
  }

  private snap(): Snapshot {
    const b = process.cpuUsage();
    const procs = new Map<string, number>();
    for (const p of this.procs) {
      const c = p.child.cpuSeconds();
      if (c !== undefined) procs.set(p.name, c);
    }
    return { wall: Date.now(), bench: (b.user + b.system) / 1e6, procs, machine: machineCpuSeconds() };
  }

  private static diff(a: Snapshot, b: Snapshot): Record<string, number> {
    const wall = (b.wall - a.wall) / 1000 || 1e-9;
    const out: Record<string, number> = { bench: round1(((b.bench - a.bench) / wall) * 100) };
    for (const [name, v] of b.procs) {
      const v0 = a.procs.get(name);
      if (v0 !== undefined) out[name] = round1(((v - v0) / wall) * 100);
    }
    if (a.machine && b.machine && b.machine.total > a.machine.total) {
      const busyFraction = (b.machine.busy - a.machine.busy) / (b.machine.total - a.machine.total);
      out.machineBusyPercentOfAllCores = round1(busyFraction * 100);
      // Whatever else ran on the machine meanwhile (other people's tests, ...): it skews the figures.
      const ours = Object.values(out).reduce((x, y) => x + y, 0) - out.machineBusyPercentOfAllCores;
      out.otherProcesses = round1(Math.max(0, busyFraction * cpus().length * 100 - ours));
    }
    return out;
  }

  /** Averages since the meter was made. */
  read(): Record<string, number> {
    return CpuMeter.diff(this.start, this.snap());
  }

  /** Averages since the previous interval() call (or since the meter was made). */
  interval(): Record<string, number> {
    const now = this.snap();
    const out = CpuMeter.diff(this.last, now);
    this.last = now;
    return out;
  }
}

interface Snapshot {
  wall: number;
  bench: number;
  procs: Map<string, number>;
  machine: { busy: number; total: number } | undefined;
}

export const fmtCpu = (c: Record<string, number>): string =>
  Object.entries(c).map(([k, v]) => `${k === 'machineBusyPercentOfAllCores' ? `machine(of ${cpus().length} cores)` : k === 'otherProcesses' ? 'others' : k} ${v}`).join(' ');

export const round1 = (x: number) => Math.round(x * 10) / 10;
