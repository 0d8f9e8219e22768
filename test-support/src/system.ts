/**
 * Integration tests use real programs from Debian packages (socat, mosquitto, redis-server, …).
 * In CI (CI=true) a missing program is an error: .ci/run installs them, so absence means a broken
 * setup. Locally the test skips, and says so loudly on stderr so nobody mistakes it for a pass.
 */
import { spawnSync } from 'node:child_process';

export function findProgram(name: string): string | undefined {
  const r = spawnSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' });
  const path = r.stdout.trim();
  return r.status === 0 && path ? path : undefined;
}

/** Call from a mocha hook or test: returns the program's path, or skips (locally) / fails (CI). */
export function requireProgram(ctx: Mocha.Context, name: string, debianPackage: string): string {
  const path = findProgram(name);
  if (path) return path;
  const msg = `${name} not found (Debian package "${debianPackage}": apt-get install ${debianPackage})`;
  if (process.env.CI === 'true') throw new Error(`${msg}; CI must not skip this test`);
  process.stderr.write(`\n\x1b[33m!!! SKIPPING "${ctx.test?.parent?.title ?? ''}": ${msg}\x1b[0m\n`);
  ctx.skip();
}
