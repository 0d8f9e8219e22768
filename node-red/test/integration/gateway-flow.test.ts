/**
 * A real Node-RED 4.1 runtime (the `node-red` command in a child process, its own settings and
 * userDir) with the palette installed in userDir/node_modules, as a user installs it. The example
 * flow examples/gateway-flow.json is deployed unchanged through the admin API (POST /flows; its
 * `${VITALGATE_…}` properties come from the runtime's environment). Simulated wearables
 * (@vitalgate/device-sim) publish over MQTT to the project's broker; the flow seals what they send.
 * Node-RED is then stopped, and every reading the broker acknowledged to a device must come back
 * exactly once, unchanged, when the sealed store is opened with the keystore; nothing else may.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BatchIndex, readStore } from '@vitalgate/edge-gateway';
import { startBroker, type RunningBroker } from '@vitalgate/broker';
import { Simulation, type SentReading } from '@vitalgate/device-sim';
import { freePort } from '@vitalgate/test-support';
import { sleep, tempDir, until } from '../helpers.js';

const require = createRequire(import.meta.url);
/** node-red/ (this file runs from node-red/dist/test/integration). */
const PACKAGE_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const PASS = 'node-red test passphrase';

describe('Node-RED runtime: the palette installed, examples/gateway-flow.json deployed, simulated devices reconciled', function () {
  this.timeout(120_000);
  let t: Awaited<ReturnType<typeof tempDir>>;
  let broker: RunningBroker | undefined;
  let red: ChildProcess | undefined;
  let output = '';

  before(async () => {
    t = await tempDir('vg-nr-runtime-');
  });
  after(async () => {
    red?.kill('SIGKILL');
    await broker?.close();
    await t?.cleanup();
  });

  async function api(port: number, path: string, init: RequestInit = {}): Promise<Response> {
    return fetch(`http://127.0.0.1:${port}${path}`, init);
  }

  it('seals every reading the devices sent, exactly once', async () => {
    broker = await startBroker({ port: 0 });
    const userDir = join(t.dir, 'user');
    const dataDir = join(t.dir, 'data');
    await mkdir(join(userDir, 'node_modules', '@vitalgate'), { recursive: true });
    await symlink(PACKAGE_DIR, join(userDir, 'node_modules', '@vitalgate', 'node-red-contrib-vitalgate'), 'dir');
    const port = await freePort();
    const settings = join(userDir, 'settings.js');
    await writeFile(settings, `module.exports = ${JSON.stringify({
      uiHost: '127.0.0.1', uiPort: port, userDir, flowFile: 'flows.json', credentialSecret: false,
      logging: { console: { level: 'warn', metrics: false, audit: false } },
      editorTheme: { tours: false },
    })};\n`);

    red = spawn(process.execPath, [require.resolve('node-red/red.js'), '--settings', settings, '--userDir', userDir], {
      env: { ...process.env, VITALGATE_BROKER_URL: broker.url, VITALGATE_DATA_DIR: dataDir, VITALGATE_PASSPHRASE_FILE: t.passFile },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    red.stdout!.on('data', (b: Buffer) => { output += b.toString(); });
    red.stderr!.on('data', (b: Buffer) => { output += b.toString(); });
    const exited = new Promise<number | null>((r) => red!.once('exit', (code) => r(code)));
    await until(async () => (await api(port, '/flows').catch(() => undefined))?.ok === true, `Node-RED's admin API answers (output: ${output})`, 60_000);

    // The palette is installed and every node loaded.
    const sets = await (await api(port, '/nodes', { headers: { Accept: 'application/json' } })).json() as Array<{ module: string; types: string[]; enabled: boolean; err?: string }>;
    const ours = sets.filter((s) => s.module === '@vitalgate/node-red-contrib-vitalgate');
    assert.deepEqual(ours.flatMap((s) => s.types).sort(), ['vitalgate-decode', 'vitalgate-device-in', 'vitalgate-fhir', 'vitalgate-keystore', 'vitalgate-seal', 'vitalgate-upload']);
    for (const s of ours) assert.ok(s.enabled && !s.err, `${s.types.join()} loaded: ${s.err ?? ''}`);

    // The example flow, as shipped, through the admin API.
    const subscribed = new Promise<void>((r) => broker!.aedes.on('subscribe', (subs) => { if (subs.some((s) => s.topic.startsWith('vg/v1/'))) r(); }));
    const flow = await readFile(join(PACKAGE_DIR, 'examples', 'gateway-flow.json'), 'utf8');
    const deployed = await api(port, '/flows', { method: 'POST', headers: { 'Content-Type': 'application/json', 'Node-RED-Deployment-Type': 'full' }, body: flow });
    assert.ok(deployed.ok, `POST /flows: ${deployed.status} ${await deployed.text()}`);
    await subscribed;

    // Simulated wearables: every reading the broker acknowledges is one the flow must seal.
    const sim = new Simulation({ brokerUrl: broker.url, devices: 3, durationS: 3, profile: 'mixed', encoding: 'mixed', devicePrefix: 'nr-dev', patientPrefix: 'nr-patient', seed: 11 });
    const sent: SentReading[] = [];
    sim.on('acked', (r) => sent.push(r));
    sim.on('failed', (_r, e) => assert.fail(`a publish failed: ${e.message}`));
    await sim.connect();
    await sim.run();
    await sim.close();
    assert.ok(sent.length > 50, `the devices sent ${sent.length} readings`);

    // Sealed and indexed while Node-RED runs (the batch window is 500 ms).
    const indexed = async () => (await BatchIndex.load(join(dataDir, 'index.jsonl')).catch(() => [])).filter((r) => !r.kind).reduce((n, r) => n + r.count, 0);
    await until(async () => (await indexed()) >= sent.length, `every reading sealed (sent ${sent.length}); output: ${output}`, 30_000);
    await sleep(700);

    // Node-RED stops cleanly: the gateway seals what is pending and releases the data directory.
    red.kill('SIGINT');
    assert.equal(await exited, 0, output);
    red = undefined;

    const key = (patientId: string, deviceId: string, stream: string, seq: number) => `${patientId}|${deviceId}|${stream}|${seq}`;
    const got = new Map<string, unknown>();
    for await (const b of readStore(dataDir, PASS)) {
      assert.ok(b.ok, `batch ${b.id} opens: ${b.ok ? '' : b.reason}`);
      for (const body of b.bodies) {
        const k = key(b.header.patientId, b.header.deviceId, b.header.stream, body.seq);
        assert.ok(!got.has(k), `sealed twice: ${k}`);
        got.set(k, body);
      }
    }
    for (const s of sent) {
      const k = key(s.patientId, s.deviceId, s.stream, s.body.seq);
      assert.ok(got.has(k), `lost: ${k}`);
      // Through JSON, as the wire has it: a signal model's -0 sample is sent as 0.
      assert.deepEqual(JSON.parse(JSON.stringify(got.get(k))), JSON.parse(JSON.stringify(s.body)), `altered: ${k}`);
      got.delete(k);
    }
    assert.deepEqual([...got.keys()], [], 'sealed readings nobody sent');
    assert.doesNotMatch(output, /\[error\]/, 'no errors in the Node-RED log');
  });
});
