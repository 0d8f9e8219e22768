/**
 * Interop: the real Mosquitto command-line clients (Debian package mosquitto-clients) against our
 * aedes broker with the registry policy on 127.0.0.1.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import pino from 'pino';
import { requireProgram } from '@vitalgate/test-support';
import { createRegistryPolicy, Registry, startBroker, type RegistryPolicy, type RunningBroker } from '../../src/index.js';

const FAST = { scrypt: { N: 1 << 10, r: 8, p: 1, dkLen: 32 } };

interface Ran { code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }
interface Running { done: Promise<Ran>; kill(): void }

/** Spawns a program with a hard time limit (SIGKILL), collecting its output. */
function run(cmd: string, args: string[], timeoutMs = 15_000): Running {
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const done = new Promise<Ran>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
  return { done, kill: () => void (child.exitCode === null && child.kill('SIGKILL')) };
}

describe('Mosquitto clients against the registry-policy broker', function () {
  this.timeout(60_000);
  let pub: string;
  let sub: string;
  let broker: RunningBroker;
  let policy: RegistryPolicy;
  let registry: Registry;
  const secrets: Record<string, string> = {};
  const children: Running[] = [];

  before(function () {
    pub = requireProgram(this, 'mosquitto_pub', 'mosquitto-clients');
    sub = requireProgram(this, 'mosquitto_sub', 'mosquitto-clients');
  });

  beforeEach(async () => {
    registry = new Registry();
    secrets.d1 = (await registry.addDevice('d1', 'p1', ['hr'], FAST)).secret;
    secrets.d3 = (await registry.addDevice('d3', 'p2', ['hr'], FAST)).secret;
    secrets.g1 = (await registry.addGateway('g1', ['p1'], FAST)).secret;
    secrets.g2 = (await registry.addGateway('g2', ['p2'], FAST)).secret;
    policy = createRegistryPolicy(registry, { logger: pino({ level: 'silent' }) });
    broker = await startBroker({ port: 0, policy });
  });

  afterEach(async () => {
    for (const c of children.splice(0)) c.kill();
    policy.close();
    await broker.close();
  });

  const auth = (id: string, password = secrets[id]!) => ['-h', '127.0.0.1', '-p', String(broker.port), '-i', id, '-u', id, '-P', password];

  /** Starts mosquitto_sub and resolves once the broker has its subscription. */
  async function subscriber(id: string, filter: string, extra: string[]): Promise<Running> {
    const subscribed = new Promise<void>((resolve) => {
      const on = (_subs: unknown, client: { id: string }) => {
        if (client.id !== id) return;
        broker.aedes.off('subscribe', on);
        resolve();
      };
      broker.aedes.on('subscribe', on);
    });
    const r = run(sub, [...auth(id), '-t', filter, '-q', '1', '-v', ...extra]);
    children.push(r);
    await Promise.race([subscribed, r.done.then((x) => { throw new Error(`mosquitto_sub exited early: ${x.code} ${x.stderr}`); })]);
    return r;
  }

  it('delivers a reading published by mosquitto_pub with good credentials to mosquitto_sub', async () => {
    const s = await subscriber('g1', 'vg/v1/p1/+/+', ['-C', '1', '-W', '10']);
    const p = await run(pub, [...auth('d1'), '-t', 'vg/v1/p1/d1/hr', '-m', '{"bpm":61}', '-q', '1']).done;
    assert.equal(p.code, 0, p.stderr);
    const got = await s.done;
    assert.equal(got.code, 0, got.stderr);
    assert.equal(got.stdout.trim(), 'vg/v1/p1/d1/hr {"bpm":61}');
    assert.equal(policy.stats().total, 0);
  });

  it('refuses wrong credentials: mosquitto_pub exits non-zero and says why', async () => {
    for (const [id, pw] of [['d1', 'not-the-secret'], ['intruder', 'x'], ['d1', secrets.g1!]] as const) {
      const p = await run(pub, [...auth(id, pw), '-t', 'vg/v1/p1/d1/hr', '-m', 'x', '-q', '1']).done;
      assert.notEqual(p.code, 0, `${id} was accepted`);
      assert.match(p.stderr, /Connection Refused: bad user name or password/i);
    }
    assert.equal(policy.stats().byAction.connect, 3);
  });

  it('does not deliver a publish outside the ACL', async () => {
    const s = await subscriber('g2', 'vg/v1/p2/#', ['-W', '2']);
    // d1 belongs to patient p1: it may not publish as d3 / patient p2.
    await run(pub, [...auth('d1'), '-t', 'vg/v1/p2/d3/hr', '-m', 'forged', '-q', '0']).done;
    const got = await s.done;
    assert.equal(got.stdout, '', 'nothing may reach the p2 gateway');
    assert.equal(policy.stats().byReason['publish:other-patient'], 1);
  });

  it('denies mosquitto_sub a subscription outside the ACL', async () => {
    const r = await run(sub, [...auth('d1'), '-t', 'vg/v1/p1/#', '-q', '1', '-W', '5']).done;
    // mosquitto_sub 2.0 sees SUBACK 128, says so and disconnects (its exit status is 0 for this).
    assert.match(r.stdout + r.stderr, /All subscription requests were denied/);
    assert.equal(r.signal, null, 'it must end by itself, not by our time limit');
    assert.equal(policy.stats().byReason['subscribe:device-may-only-subscribe-own-cmd'], 1);
  });

  it('disconnects a connected mosquitto_sub when its credential is revoked, and refuses it again', async () => {
    const s = await subscriber('d1', 'vg/v1/p1/d1/cmd', ['-W', '20']);
    const t0 = performance.now();
    registry.revoke('d1');
    const got = await s.done; // mosquitto_sub reconnects, is refused, and gives up
    assert.ok(performance.now() - t0 < 10_000);
    assert.notEqual(got.code, 0);
    assert.match(got.stderr, /bad user name or password/i);
    assert.equal(policy.stats().revokedDisconnects, 1);
  });
});
