/**
 * A real redis-server (Debian's `redis-server` package) on loopback for tests, shared by every
 * package that needs one. It binds a free 127.0.0.1 port, never writes RDB snapshots (`--save ''`),
 * and, given a directory, keeps an append-only file there (fsynced on every write) so a restart on
 * the same port and directory comes back with its data. Without a directory nothing is persisted.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { exited, killChild, killOnExit, stopChild, type RestartableServer } from './child-process.js';
import { freePort } from './ports.js';

export interface RedisServerOptions {
  /** Path of the redis-server binary (default: `redis-server` on PATH). */
  redisServerPath?: string;
  /** How long start and restart wait for "Ready to accept connections" (default 15 s). */
  readyTimeoutMs?: number;
  /** More redis-server arguments, e.g. ['--requirepass', secret]. */
  args?: string[];
}

/** stop: SIGTERM (Redis flushes the append-only file), SIGKILL after 10 s. */
export interface RedisServer extends RestartableServer {
  /** redis://127.0.0.1:PORT (no password: the test server is loopback only). */
  url: string;
  /** SIGSTOP: it keeps its connections open but answers nothing, like a hung server. */
  pause(): void;
  /** SIGCONT after pause. */
  resume(): void;
  /** Everything it wrote to stdout and stderr so far (the tail), for failure messages. */
  output(): string;
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
    killOnExit(p);
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

  const stop = (): Promise<void> => stopChild(child, 10_000);
  const kill = (): Promise<void> => killChild(child);

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
