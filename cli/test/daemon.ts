import { spawn, type ChildProcess } from 'node:child_process';
import { MAIN } from './cli.js';

export interface Daemon { child: ChildProcess; first: Record<string, unknown>; stderr: () => string; stop(signal?: NodeJS.Signals): Promise<number | null> }

/** Starts a long-running `vitalgate` command and waits for the JSON line it prints when ready. */
export function startDaemon(args: string[], env: NodeJS.ProcessEnv = {}, timeoutMs = 30_000): Promise<Daemon> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [MAIN, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    let out = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`vitalgate ${args[0]} not ready in ${timeoutMs} ms:\n${err}`)); }, timeoutMs);
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      out += d;
      const nl = out.indexOf('\n');
      if (nl < 0) return;
      clearTimeout(timer);
      child.stdout.removeAllListeners('data');
      child.stdout.resume();
      resolve({
        child, first: JSON.parse(out.slice(0, nl)) as Record<string, unknown>, stderr: () => err,
        stop: (signal = 'SIGTERM') => new Promise((r) => {
          if (child.exitCode !== null) return r(child.exitCode);
          child.once('exit', (code) => r(code));
          child.kill(signal);
        }),
      });
    });
    child.once('exit', (code) => { clearTimeout(timer); reject(new Error(`vitalgate ${args[0]} exited with ${code} before it was ready:\n${err}`)); });
  });
}
