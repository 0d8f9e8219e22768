import { createRequire } from 'node:module';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import helper from 'node-red-node-test-helper';

const require = createRequire(import.meta.url);
/** The palette's node files, as Node-RED loads them (CommonJS shims in nodes/). */
export const nodeFile = (name: string): unknown => require(`../../nodes/vitalgate-${name}.js`);

let inited = false;
export function initHelper(): typeof helper {
  if (!inited) helper.init(require.resolve('node-red'));
  inited = true;
  return helper;
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** `what` may be a function, so a timeout reports the state at the timeout rather than at the call. */
export async function until(cond: () => boolean | Promise<boolean>, what: string | (() => string), ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out: ${typeof what === 'string' ? what : what()}`);
    await sleep(25);
  }
}

export async function tempDir(prefix: string): Promise<{ dir: string; passFile: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  const passFile = join(dir, 'pass');
  await writeFile(passFile, 'node-red test passphrase\n', { mode: 0o600 });
  return { dir, passFile, cleanup: () => rm(dir, { recursive: true, force: true }) };
}
