/**
 * Child processes of the bench (broker, gateway, bare subscriber): started from built JS files,
 * watched for their machine-readable stdout lines, measured through /proc (cpu-meter.ts), and never
 * left behind.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { procCpuSeconds, procStatusKb } from './cpu-meter.js';

/** bench/dist/src/harness/child.js → the repository root. */
export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../../..');
export const CLI_MAIN = resolve(REPO_ROOT, 'cli/dist/src/main.js');

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
