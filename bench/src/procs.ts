/**
 * Child processes of the bench (broker, gateway, bare subscriber): started from built JS files,
 * watched for their machine-readable stdout lines, measured through /proc, and never left behind.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** bench/dist/src/procs.js → the repository root. */
export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
export const CLI_MAIN = resolve(REPO_ROOT, 'cli/dist/src/main.js');
export const BARE_SUBSCRIBER = resolve(dirname(fileURLToPath(import.meta.url)), 'bare-subscriber.js');

export type Log = (msg: string) => void;

/** Extra node flags for every child (e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof"), from the environment. */
export function childNodeArgs(): string[] {
  return (process.env.VITALGATE_BENCH_CHILD_NODE_ARGS ?? '').split(/\s+/).filter(Boolean);
}

export class Child {
  readonly proc: ChildProcess;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  exitInfo: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  /** Last stderr lines, for error messages. */
  private readonly tail: string[] = [];
  private readonly waiters: Array<{ event: string; resolve: (v: Record<string, unknown>) => void }> = [];
  private readonly lineHandlers: Array<(msg: Record<string, unknown>) => void> = [];

  constructor(readonly name: string, script: string, args: readonly string[], log: Log, opts: { stdin?: boolean; env?: NodeJS.ProcessEnv } = {}) {
    this.proc = spawn(process.execPath, [...childNodeArgs(), script, ...args], {
      cwd: REPO_ROOT,
      stdio: [opts.stdin ? 'pipe' : 'ignore', 'pipe', 'pipe'],
      env: { ...process.env, ...opts.env },
    });
    this.exited = new Promise((res) => {
      this.proc.once('exit', (code, signal) => {
        this.exitInfo = { code, signal };
        res(this.exitInfo);
      });
    });
    this.proc.once('error', (e) => log(`[${name}] spawn error: ${e.message}`));
    lines(this.proc.stdout!, (line) => {
      let msg: Record<string, unknown>;
      try {
        msg = JSON.parse(line) as Record<string, unknown>;
      } catch {
        log(`[${name}] ${line}`);
        return;
      }
      for (const h of this.lineHandlers) h(msg);
      for (let i = 0; i < this.waiters.length; i++) {
        const w = this.waiters[i]!;
        if (msg.event === w.event) {
          this.waiters.splice(i--, 1);
          w.resolve(msg);
        }
      }
    });
    lines(this.proc.stderr!, (line) => {
      this.tail.push(line);
      if (this.tail.length > 40) this.tail.shift();
      log(`[${name}] ${line}`);
    });
    Child.all.add(this);
    void this.exited.then(() => Child.all.delete(this));
  }

  static readonly all = new Set<Child>();

  get pid(): number {
    return this.proc.pid ?? -1;
  }

  get alive(): boolean {
    return this.exitInfo === undefined;
  }

  onMessage(h: (msg: Record<string, unknown>) => void): void {
    this.lineHandlers.push(h);
  }

  /** Resolves with the first stdout JSON line whose `event` is `event`; rejects on exit or timeout. */
  waitFor(event: string, timeoutMs: number): Promise<Record<string, unknown>> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => fail(new Error(`${this.name} did not report "${event}" within ${timeoutMs / 1000} s${this.stderrTail()}`)), timeoutMs);
      const fail = (e: Error) => {
        clearTimeout(timer);
        const i = this.waiters.indexOf(w);
        if (i >= 0) this.waiters.splice(i, 1);
        reject(e);
      };
      const w = {
        event,
        resolve: (v: Record<string, unknown>) => {
          clearTimeout(timer);
          resolve(v);
        },
      };
      this.waiters.push(w);
      void this.exited.then((x) => fail(new Error(`${this.name} exited (code ${x.code}, signal ${x.signal}) before reporting "${event}"${this.stderrTail()}`)));
    });
  }

  stderrTail(): string {
    return this.tail.length ? `; its last stderr lines:\n  ${this.tail.slice(-10).join('\n  ')}` : '';
  }

  send(line: string): void {
    this.proc.stdin?.write(line + '\n');
  }

  signal(sig: NodeJS.Signals): void {
    if (this.alive) {
      try {
        this.proc.kill(sig);
      } catch { /* already gone */ }
    }
  }

  /** SIGTERM, then waits for exit; SIGKILL after `graceMs`. Resolves with how it ended. */
  async stop(graceMs: number): Promise<{ code: number | null; signal: NodeJS.Signals | null; killed: boolean }> {
    if (!this.alive) return { ...this.exitInfo!, killed: false };
    this.signal('SIGTERM');
    let killed = false;
    const timer = setTimeout(() => {
      killed = true;
      this.signal('SIGKILL');
    }, graceMs);
    const x = await this.exited;
    clearTimeout(timer);
    return { ...x, killed };
  }

  /** Peak resident set size in MiB (VmHWM), or undefined once the process is gone. */
  peakRssMb(): number | undefined {
    return procStatusKb(this.pid, 'VmHWM') / 1024 || undefined;
  }

  /** User + system CPU time in seconds so far. */
  cpuSeconds(): number | undefined {
    return procCpuSeconds(this.pid);
  }

  /** Last resort (process exit, error paths): SIGKILL every child still running. */
  static killAll(sig: NodeJS.Signals = 'SIGKILL'): void {
    for (const c of Child.all) c.signal(sig);
  }

  static async stopAll(graceMs: number): Promise<void> {
    await Promise.all([...Child.all].map((c) => c.stop(graceMs)));
  }
}

function lines(stream: NodeJS.ReadableStream, onLine: (line: string) => void): void {
  let buf = '';
  stream.setEncoding('utf8');
  stream.on('data', (chunk: string) => {
    buf += chunk;
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl).replace(/\r$/, '');
      buf = buf.slice(nl + 1);
      if (line) onLine(line);
    }
  });
  stream.on('end', () => {
    if (buf) onLine(buf);
    buf = '';
  });
}

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

export function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what} did not finish within ${(ms / 1000).toFixed(0)} s`)), ms);
    }),
  ]);
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Starts the broker from the CLI on a free port; resolves with its URL. */
export async function startBrokerProcess(log: Log, name = 'broker', extraArgs: readonly string[] = []): Promise<{ child: Child; url: string }> {
  const child = new Child(name, CLI_MAIN, ['broker', '--port', '0', '--log-level', 'warn', ...extraArgs], log);
  const msg = await child.waitFor('listening', 20_000);
  if (typeof msg.url !== 'string') throw new Error(`${name} reported no url: ${JSON.stringify(msg)}`);
  return { child, url: msg.url };
}

/** Starts the gateway from the CLI; resolves once it reports that it is subscribed. */
export async function startGatewayProcess(log: Log, brokerUrl: string, dataDir: string, passphraseFile: string, name = 'gateway', extraArgs: string[] = []): Promise<Child> {
  const child = new Child(name, CLI_MAIN, ['gateway', '--broker', brokerUrl, '--data-dir', dataDir, '--passphrase-file', passphraseFile, '--log-level', 'warn', ...extraArgs], log);
  await child.waitFor('ready', 60_000);
  return child;
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
