/**
 * A real redis-server (Debian's `redis-server` package) on loopback for tests, shared by every
 * package that needs one. It binds a free 127.0.0.1 port, never writes RDB snapshots (`--save ''`),
 * and, given a directory, keeps an append-only file there (fsynced on every write) so a restart on
 * the same port and directory comes back with its data. Without a directory nothing is persisted.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { freePort } from './ports.js';

export interface RedisServerOptions {
  /** Path of the redis-server binary (default: `redis-server` on PATH). */
  redisServerPath?: string;
  /** How long start and restart wait for "Ready to accept connections" (default 15 s). */
  readyTimeoutMs?: number;
  /** More redis-server arguments, e.g. ['--requirepass', secret]. */
  args?: string[];
}

export interface RedisServer {
  /** redis://127.0.0.1:PORT (no password: the test server is loopback only). */
  url: string;
  port: number;
  /** SIGTERM (Redis flushes the append-only file), then SIGKILL after 10 s. Resolves once it has exited. */
  stop(): Promise<void>;
  /** SIGKILL: a crash. Resolves once it has exited. */
  kill(): Promise<void>;
  /** Starts it again on the same port and directory (stopping it first if it runs). */
  restart(): Promise<void>;
  /** SIGSTOP: it keeps its connections open but answers nothing, like a hung server. */
  pause(): void;
  /** SIGCONT after pause. */
  resume(): void;
  /** Everything it wrote to stdout and stderr so far (the tail), for failure messages. */
  output(): string;
}

const exited = (p: ChildProcess): boolean => p.exitCode !== null || p.signalCode !== null;

function waitExit(p: ChildProcess): Promise<void> {
  return exited(p) ? Promise.resolve() : new Promise((r) => p.once('exit', () => r()));
}

/** Starts redis-server; resolves once it logs that it accepts connections. */
export async function startRedis(dir?: string, opts: RedisServerOptions = {}): Promise<RedisServer> {
  const { redisServerPath = 'redis-server', readyTimeoutMs = 15_000, args: extra = [] } = opts;
  if (dir) await mkdir(dir, { recursive: true });
  // Without a directory nothing is written, but Redis still wants a working directory: not the cwd.
  const persistence = dir
    ? ['--dir', dir, '--appendonly', 'yes', '--appendfsync', 'always']
    : ['--dir', tmpdir(), '--appendonly', 'no'];
  let port = 0;
  let child: ChildProcess | undefined;
  let tail = '';

  const launch = async (): Promise<void> => {
    const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--loglevel', 'notice', '--logfile', '', '--daemonize', 'no', ...persistence, ...extra];
    const p = spawn(redisServerPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    child = p;
    tail = '';
    await new Promise<void>((resolve, reject) => {
      let ready = false;
      const timer = setTimeout(() => {
        p.kill('SIGKILL');
        reject(new Error(`redis-server on port ${port} did not get ready within ${readyTimeoutMs} ms:\n${tail}`));
      }, readyTimeoutMs);
      const on = (d: Buffer): void => {
        // Only the tail is kept: it is what explains a failed start.
        tail = (tail + d.toString()).slice(-4000);
        if (!ready && /Ready to accept connections/.test(tail)) {
          ready = true;
          clearTimeout(timer);
          resolve();
        }
      };
      p.stdout!.on('data', on);
      p.stderr!.on('data', on);
      p.once('error', (e) => {
        clearTimeout(timer);
        reject(new Error(`could not run ${redisServerPath}: ${e.message}`));
      });
      p.once('exit', (code, signal) => {
        clearTimeout(timer);
        if (!ready) reject(new Error(`redis-server exited (${signal ?? code}) before it was ready on port ${port}:\n${tail}`));
      });
    });
  };

  // The port was free a moment ago; another process may take it before Redis binds. Only the
  // first start picks a new one: a restart must come back where its clients expect it.
  for (let attempt = 1; ; attempt++) {
    port = await freePort();
    try {
      await launch();
      break;
    } catch (e) {
      if (attempt >= 3 || !/Address already in use/i.test((e as Error).message)) throw e;
    }
  }

  const stop = async (): Promise<void> => {
    const p = child;
    if (!p || exited(p)) return;
    p.kill('SIGCONT'); // a paused process would not act on SIGTERM
    const force = setTimeout(() => p.kill('SIGKILL'), 10_000);
    p.kill('SIGTERM');
    await waitExit(p);
    clearTimeout(force);
  };

  const kill = async (): Promise<void> => {
    const p = child;
    if (!p || exited(p)) return;
    p.kill('SIGKILL');
    await waitExit(p);
  };

  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    stop,
    kill,
    restart: async () => {
      await stop();
      await launch();
    },
    pause: () => { if (child && !exited(child)) child.kill('SIGSTOP'); },
    resume: () => { if (child && !exited(child)) child.kill('SIGCONT'); },
    output: () => tail,
  };
}
