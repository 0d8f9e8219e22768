/**
 * Test fixture: a real anvil on a free loopback port, the four contracts deployed, and named wallets.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Wallet, type ContractTransactionReceipt, type ContractTransactionResponse, type Interface, type JsonRpcProvider, type LogDescription } from 'ethers';
import {
  createProvider,
  deployContracts,
  startAnvil,
  type AnvilNode,
  type DeployOptions,
  type Deployment,
  type VitalgateContracts,
} from '../../src/index.js';

export interface Fixture {
  node: AnvilNode;
  provider: JsonRpcProvider;
  deployment: Deployment;
  c: VitalgateContracts;
  /** anvil dev accounts 0..9 as wallets: admin (deployer and auditor) is 0. */
  w: Wallet[];
}

export async function setup(opts: DeployOptions = {}): Promise<Fixture> {
  const node = await startAnvil();
  const provider = createProvider(node.url, node.chainId);
  const w = node.accounts.map((a) => new Wallet(a.privateKey, provider));
  const { deployment, contracts } = await deployContracts(w[0]!, opts);
  return { node, provider, deployment, c: contracts, w };
}

export async function teardown(f: Fixture | undefined): Promise<void> {
  if (!f) return;
  f.provider.destroy();
  await f.node.stop();
}

export function wallet(f: Fixture, i: number): Wallet {
  const x = f.w[i];
  if (!x) throw new Error(`no wallet ${i}`);
  return x;
}

/** Sends, waits, asserts success, returns the receipt. */
export async function send(tx: Promise<ContractTransactionResponse>): Promise<ContractTransactionReceipt> {
  const receipt = await (await tx).wait();
  assert.ok(receipt, 'no receipt');
  assert.equal(receipt.status, 1);
  return receipt;
}

/** The decoded events named `name` emitted by the contract with interface `iface` in `receipt`. */
export function events(receipt: ContractTransactionReceipt, iface: Interface, name: string): LogDescription[] {
  const out: LogDescription[] = [];
  for (const log of receipt.logs) {
    let parsed: LogDescription | null = null;
    try {
      parsed = iface.parseLog({ topics: [...log.topics], data: log.data });
    } catch {
      parsed = null;
    }
    if (parsed && parsed.name === name) out.push(parsed);
  }
  return out;
}

/** The single event `name`, asserting there is exactly one; returns its args as a plain array. */
export function oneEvent(receipt: ContractTransactionReceipt, iface: Interface, name: string): unknown[] {
  const evs = events(receipt, iface, name);
  assert.equal(evs.length, 1, `expected one ${name} event, got ${evs.length}`);
  return [...evs[0]!.args];
}

function findRevertData(e: unknown, depth = 0): string | undefined {
  if (depth > 6 || e === null || typeof e !== 'object') return undefined;
  const o = e as Record<string, unknown>;
  if (typeof o.data === 'string' && o.data.startsWith('0x') && o.data.length >= 10) return o.data;
  for (const key of ['error', 'info', 'cause', 'data']) {
    const found = findRevertData(o[key], depth + 1);
    if (found) return found;
  }
  return undefined;
}

/**
 * Asserts that `p` reverts with the custom error `name` of `iface` (and, if given, these args).
 * Covers both a failing estimateGas (the usual path for a send) and a failing call.
 */
export async function expectRevert(p: Promise<unknown>, iface: Interface, name: string, args?: unknown[]): Promise<void> {
  let error: unknown;
  try {
    await p;
  } catch (e) {
    error = e;
  }
  assert.ok(error, `expected revert ${name}, but it succeeded`);
  const data = findRevertData(error);
  assert.ok(data, `expected revert ${name}, got ${String((error as Error).message).slice(0, 300)}`);
  const parsed = iface.parseError(data);
  assert.ok(parsed, `unknown revert data ${data}`);
  assert.equal(parsed.name, name, `expected ${name}, got ${parsed.name}(${parsed.args.join(', ')})`);
  if (args) assert.deepEqual([...parsed.args], args);
}

export async function latestTimestamp(f: Fixture): Promise<number> {
  const b = await f.provider.getBlock('latest');
  assert.ok(b);
  return b.timestamp;
}

/** Mines an empty block with exactly this timestamp (seconds); later views at 'latest' see it. */
export async function mineAt(f: Fixture, timestamp: number): Promise<void> {
  await f.provider.send('evm_mine', [timestamp]);
}

/** Makes the next transaction's block have this timestamp. */
export async function setNextTimestamp(f: Fixture, timestamp: number): Promise<void> {
  await f.provider.send('evm_setNextBlockTimestamp', [timestamp]);
}

export function randomKey33(): string {
  return `0x02${randomBytes(32).toString('hex')}`;
}

export function random32(): string {
  return `0x${randomBytes(32).toString('hex')}`;
}
