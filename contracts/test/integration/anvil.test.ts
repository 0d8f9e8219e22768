import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Wallet, computeAddress, getAddress, type JsonRpcProvider } from 'ethers';
import {
  ANVIL_DEV_ACCOUNTS,
  BYTECODE_HASH,
  anvilBinaryPath,
  buildBatchTree,
  createProvider,
  deployOrLoad,
  isDeploymentLive,
  patientRef,
  readDeployment,
  startAnvil,
  type AnvilNode,
} from '../../src/index.js';
import { random32, send } from './helpers.js';

const INDEX = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'src', 'index.js');

/** Alive and not a zombie (an orphan's zombie may linger where PID 1 does not reap). */
function isAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/^\d+ \(.*\) [ZX]/.test(stat);
  } catch {
    if (existsSync('/proc/self/stat')) return false;
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  }
}

async function waitDead(pid: number, ms = 10_000): Promise<boolean> {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    if (!isAlive(pid)) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return !isAlive(pid);
}

/** Runs a script that starts anvil and prints its pid; resolves with both pids once the pid is printed. */
function runStarter(body: string): Promise<{ parent: number; anvil: number; exited: Promise<NodeJS.Signals | null> }> {
  const code = `import { startAnvil } from ${JSON.stringify(INDEX)};\nconst node = await startAnvil();\nconsole.log('ANVIL ' + node.pid);\n${body}`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', code], { stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = new Promise<NodeJS.Signals | null>((r) => child.once('exit', (_code, signal) => r(signal)));
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /ANVIL (\d+)/.exec(out);
      if (m) resolve({ parent: child.pid!, anvil: Number(m[1]), exited });
    });
    child.once('exit', (c) => reject(new Error(`starter exited (${c}) before printing: ${out}`)));
  });
}

describe('contracts: embedded anvil and deployment', function () {
  let dir: string;
  const nodes: AnvilNode[] = [];
  const providers: JsonRpcProvider[] = [];

  async function start(statePath?: string): Promise<{ node: AnvilNode; provider: JsonRpcProvider; admin: Wallet }> {
    const node = await startAnvil(statePath === undefined ? {} : { statePath });
    nodes.push(node);
    const provider = createProvider(node.url, node.chainId);
    providers.push(provider);
    return { node, provider, admin: new Wallet(node.accounts[0]!.privateKey, provider) };
  }

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'vitalgate-contracts-'));
  });
  after(async () => {
    for (const p of providers) p.destroy();
    for (const n of nodes) await n.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('finds the anvil binary shipped by @foundry-rs/anvil', () => {
    const bin = anvilBinaryPath();
    assert.match(bin, /@foundry-rs[/\\]anvil-[a-z0-9]+-[a-z0-9]+[/\\]bin[/\\]anvil/);
    assert.ok(existsSync(bin));
  });

  it('startAnvil: free port on 127.0.0.1, answers JSON-RPC, dev accounts; stop() ends the process', async () => {
    const { node, provider } = await start();
    assert.equal(node.host, '127.0.0.1');
    assert.ok(node.port > 0);
    assert.equal(node.url, `http://127.0.0.1:${node.port}`);
    assert.equal(node.chainId, 31337);
    const accounts = (await provider.send('eth_accounts', [])) as string[];
    assert.deepEqual(
      accounts.map((a) => getAddress(a)),
      ANVIL_DEV_ACCOUNTS.map((a) => a.address),
    );
    for (const a of ANVIL_DEV_ACCOUNTS) assert.equal(computeAddress(a.privateKey), a.address);
    // two at once get different ports
    const other = await start();
    assert.notEqual(other.node.port, node.port);
    await other.node.stop();
    assert.equal(other.node.exited, true);
    assert.throws(() => process.kill(other.node.pid, 0), /ESRCH/);
    await node.stop();
    await node.stop(); // idempotent
    assert.equal(node.exited, true);
  });

  it('startAnvil rejects with a clear message when anvil cannot run or start', async () => {
    await assert.rejects(startAnvil({ binary: join(dir, 'no-such-anvil') }), /cannot run anvil/);
    await assert.rejects(startAnvil({ args: ['--no-such-flag'] }), /anvil exited/);
  });

  it('deployOrLoad deploys once, writes the file, and reuses it on the same chain', async () => {
    const { node, admin, provider } = await start();
    const file = join(dir, 'fresh', 'deployment.json');
    const first = await deployOrLoad(admin, file);
    assert.equal(first.reused, false);
    const onDisk = readDeployment(file);
    assert.ok(onDisk);
    assert.deepEqual(onDisk, first.deployment);
    assert.equal(onDisk.chainId, 31337);
    assert.equal(onDisk.deployer, admin.address);
    assert.equal(onDisk.bytecodeHash, BYTECODE_HASH);
    assert.ok(onDisk.deployedAtBlock >= 1);
    assert.deepEqual(Object.keys(onDisk.contracts).sort(), ['AuditLog', 'Consent', 'DataAnchor', 'Registry']);
    const second = await deployOrLoad(admin, file);
    assert.equal(second.reused, true);
    assert.deepEqual(second.deployment.contracts, first.deployment.contracts);
    // wired: the deployer is auditor, the contracts point at the Registry
    const r = second.contracts.registry;
    assert.ok(await r.hasRole(await r.AUDITOR_ROLE(), admin.address));
    assert.equal(await second.contracts.consent.registry(), onDisk.contracts.Registry);
    assert.equal(await second.contracts.dataAnchor.registry(), onDisk.contracts.Registry);
    assert.equal(await second.contracts.auditLog.registry(), onDisk.contracts.Registry);
    assert.equal(await second.contracts.consent.breakGlassDuration(), 4n * 3600n);
    await node.stop();
    void provider;
  });

  it('deployOrLoad redeploys when the file points at a chain without the code, another chain id, or other code', async () => {
    const { admin, provider } = await start();
    const file = join(dir, 'stale', 'deployment.json');
    const a = await deployOrLoad(admin, file);
    const stale = { ...a.deployment, contracts: { ...a.deployment.contracts, Registry: Wallet.createRandom().address } };
    writeFileSync(file, JSON.stringify(stale));
    assert.equal(await isDeploymentLive(provider, stale), false);
    const b = await deployOrLoad(admin, file);
    assert.equal(b.reused, false);
    assert.notEqual(b.deployment.contracts.Registry, stale.contracts.Registry);

    writeFileSync(file, JSON.stringify({ ...b.deployment, chainId: 1 }));
    assert.equal((await deployOrLoad(admin, file)).reused, false);

    const c = readDeployment(file)!;
    writeFileSync(file, JSON.stringify({ ...c, bytecodeHash: random32() }));
    assert.equal((await deployOrLoad(admin, file)).reused, false);

    writeFileSync(file, 'not json');
    assert.equal(readDeployment(file), undefined);
    assert.equal((await deployOrLoad(admin, file)).reused, false);
  });

  it('--state persistence: after a restart the deployment is reused and an anchored root is still there', async function () {
    const statePath = join(dir, 'chain', 'anvil-state.json');
    const file = join(dir, 'chain', 'deployment.json');
    const first = await start(statePath);
    const { contracts, deployment } = await deployOrLoad(first.admin, file);
    const gateway = new Wallet(first.node.accounts[1]!.privateKey, first.provider);
    await send(contracts.registry.registerGateway(gateway.address));
    await send(contracts.registry.registerPatient(first.node.accounts[2]!.address, patientRef('patient-0001'), gateway.address));
    const id = random32();
    const tree = buildBatchTree([id, random32(), random32()]);
    await send(contracts.dataAnchor.connect(gateway).anchor(tree.root, tree.count, 1, 2, 'file:///batches'));
    const block = await first.provider.getBlockNumber();
    await first.node.stop();
    assert.ok(existsSync(statePath));
    assert.ok(readFileSync(statePath).length > 0);

    const second = await start(statePath);
    assert.ok((await second.provider.getBlockNumber()) >= block);
    const again = await deployOrLoad(second.admin, file);
    assert.equal(again.reused, true);
    assert.deepEqual(again.deployment.contracts, deployment.contracts);
    const rec = await again.contracts.dataAnchor.rootRecord(gateway.address, tree.root);
    assert.equal(rec.submitter, gateway.address);
    assert.equal(await again.contracts.dataAnchor.verifyBatch(gateway.address, tree.root, id, tree.proof(id)), true);
    assert.equal(await again.contracts.registry.gatewayOf(second.node.accounts[2]!.address), gateway.address);
    // and the chain still takes transactions (nonces continue)
    const next = buildBatchTree([random32()]);
    await send(again.contracts.dataAnchor.connect(new Wallet(second.node.accounts[1]!.privateKey, second.provider)).anchor(next.root, 1, 1, 2, ''));
    await second.node.stop();
  });

  it('a crashed (SIGKILLed) anvil keeps what was dumped by --state-interval', async () => {
    const statePath = join(dir, 'crash', 'anvil-state.json');
    const first = await start(statePath);
    const file = join(dir, 'crash', 'deployment.json');
    const { deployment } = await deployOrLoad(first.admin, file);
    await new Promise((r) => setTimeout(r, 2500)); // > 1 s state interval
    process.kill(first.node.pid, 'SIGKILL');
    await first.node.stop();
    const second = await start(statePath);
    const again = await deployOrLoad(second.admin, file);
    assert.equal(again.reused, true);
    assert.deepEqual(again.deployment.contracts, deployment.contracts);
    await second.node.stop();
  });

  it('no orphan: anvil ends when its parent exits without calling stop()', async () => {
    const { anvil, exited } = await runStarter('process.exit(0);');
    await exited;
    assert.ok(await waitDead(anvil), `anvil ${anvil} still running`);
  });

  it('no orphan: anvil ends when its parent is terminated by SIGTERM, and the parent still dies of it', async () => {
    const { parent, anvil, exited } = await runStarter('setInterval(() => {}, 1000);');
    assert.ok(isAlive(anvil));
    process.kill(parent, 'SIGTERM');
    assert.equal(await exited, 'SIGTERM');
    assert.ok(await waitDead(anvil), `anvil ${anvil} still running`);
  });
});
