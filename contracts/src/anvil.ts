/**
 * The embedded chain: anvil from the npm package @foundry-rs/anvil (its per-platform optional dependency,
 * e.g. @foundry-rs/anvil-linux-amd64, ships the binary), run as a child process.
 *
 * Persistence: with `statePath`, anvil runs with `--state <file>` (load at start, dump on exit; SIGTERM
 * and SIGINT dump too) and `--state-interval <s>` (dump periodically, so a crash loses at most that
 * much). `stop()` sends SIGTERM and waits for the exit, so the state is on disk when it resolves.
 *
 * No orphans: every running anvil is SIGTERMed when this process exits (the 'exit' event) or receives
 * SIGINT/SIGTERM/SIGHUP. If nothing else listens for that signal, the signal is then re-raised so the
 * process still dies of it; if the application has its own handler, it decides when to exit. A
 * SIGKILLed parent cannot clean up: anvil then keeps running until killed.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, resolve } from 'node:path';

/** One of anvil's default dev accounts (mnemonic "test test test test test test test test test test test junk"). */
export interface DevAccount {
  readonly address: string;
  readonly privateKey: string;
}

/**
 * The well-known private keys of anvil's ten default dev accounts. Public knowledge: never use them on a
 * chain with anything of value.
 */
export const ANVIL_DEV_KEYS: readonly string[] = [
  '0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80',
  '0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d',
  '0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a',
  '0x7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6',
  '0x47e179ec197488593b187f80a00eb0da91f1b9d0b13f8733639f19c30a34926a',
  '0x8b3a350cf5c34c9194ca85829a2df0ec3153be0318b5e2d3348e872092edffba',
  '0x92db14e403b83dfe3df233f83dfa3a0d7096f21ca9b0d6d6b8d88b2b4ec1564e',
  '0x4bbbf85ce3377467afe5d46f804f221813b2bb87f24d81f60f1fcdbf7cbf4356',
  '0xdbda1821b80551c9d65939329250298aa3472ba22feea921c0cf5d620ea67b97',
  '0x2a871d0798f97d79848a013d4936a73bf4cc922c825d33c1cf7073dff6d409c6',
];

const ANVIL_DEV_ADDRESSES = [
  '0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266',
  '0x70997970C51812dc3A010C7d01b50e0d17dc79C8',
  '0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC',
  '0x90F79bf6EB2c4f870365E785982E1f101E93b906',
  '0x15d34AAf54267DB7D7c367839AAf71A00a2C6A65',
  '0x9965507D1a55bcC2695C58ba16FB37d819B0A4dc',
  '0x976EA74026E726554dB657fA54763abd0C3a0aa9',
  '0x14dC79964da2C08b23698B3D3cc7Ca32193d9955',
  '0x23618e81E3f5cdF7f54C3d65f7FBc0aBf5B21E8f',
  '0xa0Ee7A142d267C1f36714E4a8F75612F20a79720',
];

/** anvil's ten default dev accounts, with their (checksummed) addresses. */
export const ANVIL_DEV_ACCOUNTS: readonly DevAccount[] = ANVIL_DEV_KEYS.map((privateKey, i) => ({
  address: ANVIL_DEV_ADDRESSES[i]!,
  privateKey,
}));

export const ANVIL_DEFAULT_CHAIN_ID = 31337;

export interface StartAnvilOptions {
  /** TCP port; 0 (the default) lets the OS pick a free one. */
  port?: number;
  /** Listen address; default 127.0.0.1. */
  host?: string;
  /** File to load the chain from (if it exists) and dump it to (`--state`). Absent: an in-memory chain. */
  statePath?: string;
  /** Seconds between periodic state dumps when `statePath` is set (`--state-interval`); default 1. */
  stateIntervalSeconds?: number;
  /** Interval mining every N seconds (`--block-time`); absent: a block per transaction (automine). */
  blockTime?: number;
  /** Chain id; default 31337. */
  chainId?: number;
  /** Extra anvil arguments. */
  args?: string[];
  /** Milliseconds to wait for anvil to answer eth_chainId; default 30,000. */
  readyTimeoutMs?: number;
  /** Each line anvil prints (stdout and stderr). By default they are kept (see `logs()`), not printed. */
  onLog?: (line: string) => void;
  /** The anvil binary; default: $VITALGATE_ANVIL_BIN, else @foundry-rs/anvil's, else `anvil` on PATH. */
  binary?: string;
}

export interface AnvilNode {
  /** JSON-RPC endpoint, e.g. http://127.0.0.1:40123 */
  readonly url: string;
  readonly host: string;
  readonly port: number;
  readonly chainId: number;
  /** The dev accounts (funded with 10,000 ETH on a fresh chain). */
  readonly accounts: readonly DevAccount[];
  readonly statePath: string | undefined;
  readonly pid: number;
  /** True once the process has exited. */
  readonly exited: boolean;
  /** The last lines anvil printed. */
  logs(): string[];
  /** SIGTERM (anvil dumps its state), wait for the exit; SIGKILL after `timeoutMs` (default 10,000). */
  stop(timeoutMs?: number): Promise<void>;
}

const requireHere = createRequire(import.meta.url);

/** Path of the anvil binary shipped by @foundry-rs/anvil for this platform, or 'anvil' (from PATH). */
export function anvilBinaryPath(): string {
  const fromEnv = process.env.VITALGATE_ANVIL_BIN;
  if (fromEnv) return fromEnv;
  const os = ({ linux: 'linux', darwin: 'darwin', win32: 'win32' } as Record<string, string>)[process.platform];
  const arch = ({ x64: 'amd64', arm64: 'arm64' } as Record<string, string>)[process.arch];
  if (os && arch) {
    const exe = process.platform === 'win32' ? 'anvil.exe' : 'anvil';
    try {
      const p = requireHere.resolve(`@foundry-rs/anvil-${os}-${arch}/bin/${exe}`);
      if (existsSync(p)) return p;
    } catch {
      // not installed for this platform: fall back to PATH
    }
  }
  return 'anvil';
}

// ------------------------------------------------------------------ orphan prevention

const running = new Set<ChildProcess>();
let hooksInstalled = false;

function terminateAll(): void {
  for (const child of running) {
    try {
      child.kill('SIGTERM');
    } catch {
      // already gone
    }
  }
}

function installExitHooks(): void {
  if (hooksInstalled) return;
  hooksInstalled = true;
  process.on('exit', terminateAll);
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    const handler = (): void => {
      terminateAll();
      // Only us listening: behave as if we were not there, and die of the signal.
      if (process.listenerCount(signal) === 1) {
        process.off(signal, handler);
        process.kill(process.pid, signal);
      }
    };
    process.on(signal, handler);
  }
}

// ------------------------------------------------------------------ start

/** JSON-RPC call without ethers (used to wait for readiness). */
async function rpc(url: string, method: string, params: unknown[] = []): Promise<unknown> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method, params }),
    signal: AbortSignal.timeout(2000),
  });
  const body = (await res.json()) as { result?: unknown; error?: { message?: string } };
  if (body.error) throw new Error(`${method}: ${body.error.message ?? 'error'}`);
  return body.result;
}

const LISTENING = /Listening on\s+(\S+):(\d+)/;

/**
 * Starts anvil as a child process and resolves once it answers `eth_chainId`.
 * Rejects (and kills the process) if it exits first or does not answer within `readyTimeoutMs`.
 */
export async function startAnvil(opts: StartAnvilOptions = {}): Promise<AnvilNode> {
  const host = opts.host ?? '127.0.0.1';
  const chainId = opts.chainId ?? ANVIL_DEFAULT_CHAIN_ID;
  const statePath = opts.statePath === undefined ? undefined : resolve(opts.statePath);
  const args = ['--host', host, '--port', String(opts.port ?? 0), '--chain-id', String(chainId)];
  if (statePath !== undefined) {
    mkdirSync(dirname(statePath), { recursive: true });
    args.push('--state', statePath, '--state-interval', String(opts.stateIntervalSeconds ?? 1));
  }
  if (opts.blockTime !== undefined) args.push('--block-time', String(opts.blockTime));
  args.push(...(opts.args ?? []));

  const binary = opts.binary ?? anvilBinaryPath();
  const child = spawn(binary, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  installExitHooks();
  running.add(child);

  const lines: string[] = [];
  const MAX_LINES = 200;
  let exited = false;
  let onListening: ((port: number) => void) | undefined;
  let spawnError: Error | undefined;
  const exitPromise = new Promise<void>((resolveExit) => {
    const done = (): void => {
      exited = true;
      running.delete(child);
      resolveExit();
    };
    child.once('exit', done);
    child.once('error', (e) => {
      // spawn failed (e.g. ENOENT): there will be no 'exit'
      spawnError = e;
      done();
    });
  });

  const handleText = (chunkBuffer: { rest: string }) => (chunk: Buffer) => {
    const text = chunkBuffer.rest + chunk.toString('utf8');
    const parts = text.split('\n');
    chunkBuffer.rest = parts.pop() ?? '';
    for (const raw of parts) {
      const line = raw.replace(/\r$/, '');
      lines.push(line);
      if (lines.length > MAX_LINES) lines.shift();
      opts.onLog?.(line);
      const m = LISTENING.exec(line);
      if (m && onListening) onListening(Number(m[2]));
    }
  };
  // Always drain both pipes: a full pipe would block anvil.
  child.stdout!.on('data', handleText({ rest: '' }));
  child.stderr!.on('data', handleText({ rest: '' }));

  const fail = async (message: string): Promise<never> => {
    if (!exited) {
      child.kill('SIGKILL');
      await exitPromise;
    }
    const tail = lines.slice(-15).join('\n');
    throw new Error(`${message}\n${binary} ${args.join(' ')}${tail ? `\n${tail}` : ''}`);
  };

  const timeoutMs = opts.readyTimeoutMs ?? 30_000;
  const deadline = Date.now() + timeoutMs;
  let port: number;
  try {
    port = await new Promise<number>((resolvePort, reject) => {
      onListening = resolvePort;
      void exitPromise.then(() =>
        reject(
          new Error(
            spawnError
              ? `cannot run anvil: ${spawnError.message}`
              : `anvil exited with code ${child.exitCode ?? child.signalCode}`,
          ),
        ),
      );
      setTimeout(() => reject(new Error(`anvil did not start listening within ${timeoutMs} ms`)), timeoutMs).unref();
    });
  } catch (e) {
    return fail((e as Error).message);
  }

  const urlHost = host.includes(':') ? `[${host}]` : host === '0.0.0.0' ? '127.0.0.1' : host;
  const url = `http://${urlHost}:${port}`;
  for (;;) {
    if (exited) return fail(`anvil exited with code ${child.exitCode ?? child.signalCode}`);
    try {
      const id = Number(await rpc(url, 'eth_chainId'));
      if (id !== chainId) return fail(`anvil answered chain id ${id}, expected ${chainId}`);
      break;
    } catch {
      if (Date.now() > deadline) return fail(`anvil did not answer eth_chainId within ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  return {
    url,
    host,
    port,
    chainId,
    accounts: ANVIL_DEV_ACCOUNTS,
    statePath,
    pid: child.pid!,
    get exited() {
      return exited;
    },
    logs: () => [...lines],
    async stop(stopTimeoutMs = 10_000): Promise<void> {
      if (exited) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => {
        if (!exited) child.kill('SIGKILL');
      }, stopTimeoutMs);
      await exitPromise;
      clearTimeout(timer);
    },
  };
}
