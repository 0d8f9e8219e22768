/**
 * A real pseudo-terminal pair from socat: whatever is written to one end comes out of the other,
 * through the kernel's tty layer, exactly as with a USB-serial adapter and a cable.
 */
import { spawn, type ChildProcess } from 'node:child_process';

export interface PtyPair {
  a: string;
  b: string;
  process: ChildProcess;
  close(): Promise<void>;
}

/**
 * Starts socat. With `links`, socat also makes symlinks to the two ptys at those paths, so a test
 * can restart socat and find the "same" port again, as when a USB adapter is replugged.
 */
export function socatPair(opts: { socatPath?: string; links?: [string, string]; timeoutMs?: number } = {}): Promise<PtyPair> {
  const { socatPath = 'socat', links, timeoutMs = 5000 } = opts;
  return new Promise((resolve, reject) => {
    const child = spawn(socatPath, ['-d', '-d', `pty,raw,echo=0${links ? `,link=${links[0]}` : ''}`, `pty,raw,echo=0${links ? `,link=${links[1]}` : ''}`], { stdio: ['ignore', 'ignore', 'pipe'] });
    const ptys: string[] = [];
    let err = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`socat did not report two ptys within ${timeoutMs} ms: ${err}`));
    }, timeoutMs);
    child.stderr!.setEncoding('utf8').on('data', (d: string) => {
      err += d;
      for (const m of d.matchAll(/PTY is (\S+)/g)) ptys.push(m[1]!);
      if (ptys.length === 2) {
        clearTimeout(timer);
        resolve({
          a: links?.[0] ?? ptys[0]!, b: links?.[1] ?? ptys[1]!, process: child,
          close: () => new Promise<void>((r) => {
            if (child.exitCode !== null || child.signalCode !== null) return r();
            child.once('exit', () => r());
            child.kill('SIGTERM');
          }),
        });
      }
    });
    child.once('error', (e) => { clearTimeout(timer); reject(e); });
    child.once('exit', (code) => { if (ptys.length < 2) { clearTimeout(timer); reject(new Error(`socat exited with ${code}: ${err}`)); } });
  });
}
