/**
 * The reading path through to the cloud survives crashes: a `vitalgate gateway --ingest` process
 * is killed with SIGKILL at random moments while devices publish and it seals, anchors and uploads.
 * Afterwards every reading the broker acknowledged to a device comes back from ingest
 * (`open --from-ingest`) exactly once, and every indexed batch has an upload confirmation.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Wallet } from 'ethers';
import mqtt from 'mqtt';
import pino from 'pino';
import { startBroker } from '@vitalgate/broker';
import { ANVIL_DEV_KEYS, createProvider, deployOrLoad, startAnvil } from '@vitalgate/contracts';
import { ChainGatewayDirectory, LocalObjectStore, MemoryReplayCache, buildIngest } from '@vitalgate/ingest';
import { encodeBody, readingTopic } from '@vitalgate/protocol';
import { vitalgate } from '../cli.js';
import { startDaemon, type Daemon } from '../daemon.js';

const DEVICES = 6;
const KILLS = 5;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('upload to the cloud: a gateway killed with SIGKILL while uploading', function () {
  this.timeout(240_000);

  it(`${KILLS} kills under load: every acknowledged reading is in the cloud exactly once`, async () => {
    const dir = await mkdtemp(join(tmpdir(), 'vg-killup-'));
    const anvil = await startAnvil();
    const provider = createProvider(anvil.url, anvil.chainId);
    const broker = await startBroker({ port: 0 });
    let gw: Daemon | undefined;
    const ingest = await (async () => {
      const deploymentFile = join(dir, 'deployment.json');
      const { deployment } = await deployOrLoad(new Wallet(ANVIL_DEV_KEYS[0]!, provider), deploymentFile);
      const app = await buildIngest({ store: new LocalObjectStore(join(dir, 'cloud')), directory: new ChainGatewayDirectory(deployment, provider), replay: new MemoryReplayCache(), logger: pino({ level: 'silent' }) });
      return { app, url: await app.listen({ port: 0, host: '127.0.0.1' }), deploymentFile };
    })();
    try {
      await writeFile(join(dir, 'pass'), 'upload kill passphrase, not the demo one\n', { mode: 0o600 });
      await writeFile(join(dir, 'admin'), `${ANVIL_DEV_KEYS[0]!}\n`, { mode: 0o600 });
      const env = { VITALGATE_PASSPHRASE_FILE: join(dir, 'pass') };
      const args = [
        'gateway', '--broker', broker.url, '--data-dir', join(dir, 'gw'), '--client-id', 'gw-killup', '--batch-window-ms', '300',
        '--chain-url', anvil.url, '--deployment', ingest.deploymentFile, '--chain-admin-key-file', join(dir, 'admin'), '--anchor-seconds', '2',
        '--ingest', ingest.url, '--log-level', 'warn',
      ];
      gw = await startDaemon(args, env);
      const acked = new Set<string>();
      let running = true;
      const devices = Array.from({ length: DEVICES }, async (_, d) => {
        const dev = await mqtt.connectAsync(broker.url, { clientId: `ku-dev-${d}` });
        for (let seq = 0; running; seq++) {
          await dev.publishAsync(readingTopic(`ku-p${d}`, `ku-dev-${d}`, 'hr'), Buffer.from(encodeBody({ seq, ts: Date.UTC(2026, 11, 3) + seq * 10, values: { hr: 60 + (seq % 50) } }, 'cbor')), { qos: 1 });
          acked.add(`ku-dev-${d}/${seq}`);
          if (seq % 4 === 3) await sleep(10);
        }
        await dev.endAsync();
      });
      for (let k = 0; k < KILLS; k++) {
        await sleep(1200 + Math.random() * 1500);
        await gw.stop('SIGKILL');
        gw = await startDaemon(args, env);
      }
      await sleep(800);
      running = false;
      await Promise.all(devices);
      // Let the last gateway take in everything the broker still queues for it, then stop it cleanly.
      const queued = () => (broker.persistence as unknown as { outgoingCount(): number }).outgoingCount();
      for (const end = Date.now() + 60_000; queued() > 0 && Date.now() < end;) await sleep(200);
      await sleep(800);
      assert.equal(await gw.stop('SIGTERM'), 0, gw.stderr());
      gw = undefined;

      const open = await vitalgate(['open', '--data-dir', join(dir, 'gw'), '--from-ingest', ingest.url, '--json'], env);
      assert.equal(open.code, 0, open.stderr);
      const found = new Map<string, number>();
      for (const l of open.stdout.trim().split('\n')) {
        const r = JSON.parse(l) as { deviceId: string; seq: number };
        const k = `${r.deviceId}/${r.seq}`;
        found.set(k, (found.get(k) ?? 0) + 1);
      }
      assert.ok(acked.size > 3000, `load too light to mean anything: ${acked.size} acknowledged`);
      const missing = [...acked].filter((k) => !found.has(k));
      const twice = [...found].filter(([, n]) => n > 1).map(([k]) => k);
      const invented = [...found.keys()].filter((k) => !acked.has(k));
      assert.deepEqual({ missing: missing.slice(0, 5), missingCount: missing.length, twice: twice.slice(0, 5), invented: invented.slice(0, 5) },
        { missing: [], missingCount: 0, twice: [], invented: [] });
      const ids = (await readFile(join(dir, 'gw', 'index.jsonl'), 'utf8')).trim().split('\n').map((l) => (JSON.parse(l) as { id: string }).id);
      // uploads.jsonl also confirms epoch and anchor records (`epoch:N`, `anchor:ROOT`); batches are the bare ids.
      const confirmed = (await readFile(join(dir, 'gw', 'uploads.jsonl'), 'utf8')).trim().split('\n').map((l) => (JSON.parse(l) as { id: string }).id);
      assert.deepEqual(new Set(confirmed.filter((id) => !id.includes(':'))), new Set(ids), 'every indexed batch confirmed by ingest');
      assert.ok(confirmed.some((id) => id.startsWith('epoch:')), 'epoch records confirmed by ingest');
    } finally {
      await gw?.stop('SIGKILL');
      await ingest.app.close();
      await broker.close();
      provider.destroy();
      await anvil.stop();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
