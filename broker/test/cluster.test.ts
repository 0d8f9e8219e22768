/**
 * Two broker processes sharing a real Redis (Debian's redis-server on loopback): a device on one
 * instance reaches a gateway on the other. (Failover after killing an instance is not yet reliable
 * and is tracked on the issue; it is not claimed here.)
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import mqtt from 'mqtt';
import { freePort, requireProgram } from '@vitalgate/test-support';

const CLI = fileURLToPath(new URL('../../../cli/dist/src/main.js', import.meta.url));


function startProcess(cmd: string, args: string[], ready: RegExp, timeoutMs = 15_000): Promise<ChildProcess> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`${cmd} not ready: ${out}`)); }, timeoutMs);
    const on = (d: Buffer) => {
      out += d.toString();
      if (ready.test(out)) { clearTimeout(timer); resolve(child); }
    };
    child.stdout!.on('data', on);
    child.stderr!.on('data', on);
    child.once('exit', (c) => { clearTimeout(timer); reject(new Error(`${cmd} exited ${c}: ${out}`)); });
  });
}

describe('broker cluster through Redis', function () {
  this.timeout(90_000);
  const procs: ChildProcess[] = [];
  let redisUrl = '';
  let ports: number[] = [];

  before(async function () {
    const redis = requireProgram(this, 'redis-server', 'redis-server');
    const rp = await freePort();
    procs.push(await startProcess(redis, ['--port', String(rp), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], /Ready to accept connections/));
    redisUrl = `redis://127.0.0.1:${rp}`;
    ports = [await freePort(), await freePort()];
    for (const p of ports) procs.push(await startProcess(process.execPath, [CLI, 'broker', '--port', String(p), '--redis', redisUrl], /"event":"listening"/));
  });
  after(() => { for (const p of procs) if (p.exitCode === null) p.kill('SIGKILL'); });

  it('delivers a device\'s QoS 1 publishes on one instance to a gateway on the other, in both directions', async () => {
    for (const [devPort, gwPort] of [[ports[0]!, ports[1]!], [ports[1]!, ports[0]!]] as const) {
      const got = new Set<number>();
      const gw = await mqtt.connectAsync(`mqtt://127.0.0.1:${gwPort}`, { clientId: `gw-${gwPort}`, clean: false });
      gw.on('message', (_t, m) => got.add((JSON.parse(m.toString()) as { seq: number }).seq));
      await gw.subscribeAsync('vg/v1/+/+/+', { qos: 1 });
      const dev = await mqtt.connectAsync(`mqtt://127.0.0.1:${devPort}`, { clientId: `dev-${devPort}` });
      for (let s = 0; s < 300; s++) await dev.publishAsync('vg/v1/p/dev/hr', JSON.stringify({ seq: s }), { qos: 1 });
      const t0 = Date.now();
      while (got.size < 300 && Date.now() - t0 < 10_000) await new Promise((r) => setTimeout(r, 50));
      assert.equal(got.size, 300, `device on :${devPort} → gateway on :${gwPort}`);
      await dev.endAsync();
      await gw.endAsync();
    }
  });
});
