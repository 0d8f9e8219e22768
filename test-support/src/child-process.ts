/**
 * Stopping the real servers tests start (influxd, redis-server, s3rver) the way each test needs:
 * gracefully, or as a crash. Both resolve only once the process has exited, so a restart on the
 * same port never races the old process for it.
 */
import type { ChildProcess } from 'node:child_process';

/** A test server on a loopback port that a test can stop, crash and bring back. */
export interface RestartableServer {
  port: number;
  /** SIGTERM, then SIGKILL after a grace period. Resolves once it has exited. */
  stop(): Promise<void>;
  /** SIGKILL: a crash. Resolves once it has exited. */
  kill(): Promise<void>;
  /** Starts it again on the same port and directory (stopping it first if it runs). */
  restart(): Promise<void>;
}

export const exited = (p: ChildProcess): boolean => p.exitCode !== null || p.signalCode !== null;

export const waitExit = (p: ChildProcess): Promise<void> => (exited(p) ? Promise.resolve() : new Promise((r) => p.once('exit', () => r())));

/** SIGTERM, then SIGKILL if it is still running after `graceMs`. */
export async function stopChild(p: ChildProcess | undefined, graceMs: number): Promise<void> {
  if (!p || exited(p)) return;
  p.kill('SIGCONT'); // a paused (SIGSTOP) process would not act on SIGTERM
  const force = setTimeout(() => p.kill('SIGKILL'), graceMs);
  p.kill('SIGTERM');
  await waitExit(p);
  clearTimeout(force);
}

/** SIGKILL: a crash. */
export async function killChild(p: ChildProcess | undefined): Promise<void> {
  if (!p || exited(p)) return;
  p.kill('SIGKILL');
  await waitExit(p);
}

/** mocha's --exit ends the process without stopping servers: the children go with it. */
const running = new Set<ChildProcess>();
let exitHooked = false;
export function killOnExit(p: ChildProcess): void {
  running.add(p);
  p.once('exit', () => running.delete(p));
  if (exitHooked) return;
  exitHooked = true;
  process.once('exit', () => { for (const c of running) c.kill('SIGKILL'); });
}
