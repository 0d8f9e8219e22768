/**
 * Care teams end to end with the real parts as processes: devices → aedes → `vitalgate gateway
 * --ingest` → `vitalgate ingest` (with the auditor key), anvil for the chain. The CLI does the rest:
 *   - `clinicians add --generate` registers two clinicians with fresh key files;
 *   - `consent grant --to` gives one of them hr and spo2 within a data window (not ecg);
 *   - `fetch` as that clinician signs in, opens its envelopes and decrypts on its side: every
 *     reading the devices sent of hr and spo2 inside the window exactly once, with its values; no
 *     ecg, nothing outside the window, nothing invented;
 *   - the other clinician, without a grant, is refused (and logged) and holds no envelope at all;
 *     with every object in storage, the granted clinician's envelopes open no ecg batch;
 *   - after `consent revoke`, fetch is refused and nothing sealed afterwards opens with the
 *     revoked clinician's envelopes;
 *   - `audit --patient` lists the clinicians' requests, allowed and denied, each proven on chain.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Wallet } from 'ethers';
import mqtt from 'mqtt';
import { startBroker } from '@vitalgate/broker';
import { ANVIL_DEV_KEYS, connectContracts, createProvider, deployOrLoad, startAnvil } from '@vitalgate/contracts';
import { ApiError, ClinicianClient, openWithEnvelopes } from '@vitalgate/ingest';
import { encodeBody, readingTopic, parseBatch, type ReadingBody } from '@vitalgate/protocol';
import { freePort } from '@vitalgate/test-support';
import { readClinicianKeyFile } from '../../src/clinician-key-file.js';
import { vitalgate } from '../cli.js';
import { startDaemon, type Daemon } from '../daemon.js';

const PASSPHRASE = 'care team e2e passphrase, not the demo one';
const PATIENT = 'ct-p0';
const T0 = Date.UTC(2026, 11, 4, 6);
/** The grant's data window: readings from 20 s to 50 s after T0 (inclusive). */
const FROM = T0 + 20_000;
const UNTIL = T0 + 50_000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

type Stream = 'hr' | 'spo2' | 'ecg';
const STREAMS: Stream[] = ['hr', 'spo2', 'ecg'];
const bodyOf = (stream: Stream, seq: number, ts: number): ReadingBody => stream === 'ecg'
  ? { seq, ts, rate: 250, samples: [seq % 100, -(seq % 50), 7] }
  : stream === 'hr' ? { seq, ts, values: { hr: 55 + (seq % 60) } } : { seq, ts, values: { spo2: 90 + (seq % 10) } };

interface Fetched { readings: { stream: string; deviceId: string; seq: number; ts: number; values?: Record<string, number> }[]; failures: unknown[]; streams: Record<string, { trimmed: number }> }

describe('care teams end to end: consent grant, fetch, revoke and audit through the CLI', function () {
  this.timeout(300_000);
  let dir: string;
  let gw: Daemon | undefined;
  let ingest: Daemon | undefined;

  after(async () => {
    await gw?.stop();
    await ingest?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('a granted clinician decrypts exactly the granted streams and window; the rest is refused and cannot be opened; the patient audits it', async () => {
    dir = await mkdtemp(join(tmpdir(), 'vg-care-e2e-'));
    const anvil = await startAnvil();
    const provider = createProvider(anvil.url, anvil.chainId);
    const broker = await startBroker({ port: 0 });
    try {
      const deploymentFile = join(dir, 'deployment.json');
      const admin = new Wallet(ANVIL_DEV_KEYS[0]!, provider);
      const { deployment } = await deployOrLoad(admin, deploymentFile);
      const auditor = new Wallet(ANVIL_DEV_KEYS[7]!, provider);
      const reg = connectContracts(deployment, admin).registry;
      await (await reg.grantRole(await reg.AUDITOR_ROLE(), auditor.address)).wait();
      await writeFile(join(dir, 'pass'), `${PASSPHRASE}\n`, { mode: 0o600 });
      await writeFile(join(dir, 'admin'), `${ANVIL_DEV_KEYS[0]!}\n`, { mode: 0o600 });
      await writeFile(join(dir, 'auditor'), `${ANVIL_DEV_KEYS[7]!}\n`, { mode: 0o600 });
      await writeFile(join(dir, 'session'), `${'s'.repeat(40)}\n`, { mode: 0o600 });
      const env = { VITALGATE_PASSPHRASE_FILE: join(dir, 'pass') };
      const chain = ['--chain-url', anvil.url, '--deployment', deploymentFile];
      const gwDir = join(dir, 'gw');

      const port = await freePort();
      const url = `http://127.0.0.1:${port}`;
      ingest = await startDaemon([
        'ingest', '--data-dir', join(dir, 'ingest'), '--port', String(port), ...chain, '--auditor-key-file', join(dir, 'auditor'),
        '--session-secret-file', join(dir, 'session'), '--anchor-period-seconds', '2', '--denial-report-seconds', '1', '--log-level', 'warn',
      ]);
      assert.deepEqual((ingest.first.clinicians as { auditor: string }).auditor, auditor.address);
      gw = await startDaemon([
        'gateway', '--broker', broker.url, '--data-dir', gwDir, '--client-id', 'gw-care', '--batch-window-ms', '300',
        ...chain, '--chain-admin-key-file', join(dir, 'admin'), '--anchor-seconds', '2', '--ingest', url, '--status-seconds', '1', '--log-level', 'info',
      ], env);

      // Two clinicians with fresh key files, registered on chain by the admin.
      const keyA = join(dir, 'dr-a.key');
      const keyB = join(dir, 'dr-b.key');
      for (const k of [keyA, keyB]) {
        const r = await vitalgate(['clinicians', 'add', '--generate', k, ...chain, '--admin-key-file', join(dir, 'admin'), '--json']);
        assert.equal(r.code, 0, r.stderr);
      }
      const a = readClinicianKeyFile(keyA);
      const b = readClinicianKeyFile(keyB);

      // The device sends 60 s of hr, spo2 and ecg at data times T0.. (one reading per stream per 500 ms).
      const sent: Array<{ stream: Stream; seq: number; body: ReadingBody }> = [];
      const dev = await mqtt.connectAsync(broker.url, { clientId: 'ct-dev-0' });
      const publish = async (fromSeq: number, toSeq: number) => {
        for (let seq = fromSeq; seq < toSeq; seq++) {
          for (const stream of STREAMS) {
            const body = bodyOf(stream, seq, T0 + seq * 500);
            await dev.publishAsync(readingTopic(PATIENT, 'ct-dev-0', stream), Buffer.from(encodeBody(body, 'cbor')), { qos: 1 });
            sent.push({ stream, seq, body });
          }
          if (seq % 20 === 19) await sleep(20);
        }
      };
      await publish(0, 120);
      // The gateway registers the patient on chain with its first batch; the grant needs it.
      const status = async (pred: (s: Record<string, any>) => boolean, what: string, ms = 60_000) => {
        for (const end = Date.now() + ms; Date.now() < end; await sleep(300)) {
          const line = gw!.stderr().trim().split('\n').filter((l) => l.includes('"msg":"status')).at(-1);
          if (line && pred(JSON.parse(line) as Record<string, any>)) return;
        }
        throw new Error(`timed out: ${what}\n${gw!.stderr().split('\n').slice(-5).join('\n')}`);
      };
      await status((s) => s.spool?.waiting === 0 && s.unanchoredBatches === 0, 'the first minute uploaded and anchored');

      const grant = await vitalgate(['consent', 'grant', '--patient', PATIENT, '--to', a.address, '--streams', 'hr,spo2',
        '--from', String(FROM), '--until', String(UNTIL), '--expires', '1h', '--purpose', 'treatment', '--data-dir', gwDir, ...chain, '--json'], env);
      assert.equal(grant.code, 0, grant.stderr);
      const patientAccount = (JSON.parse(grant.stdout) as { patientAddress: string }).patientAddress;
      // The gateway back-fills envelopes for the window's past epochs and uploads them.
      await status((s) => (s.envelopes?.issued ?? 0) > 0 && s.envelopes?.due === 0 && s.spool?.recordsWaiting === 0, 'envelopes issued and uploaded');

      const fetched = await vitalgate(['fetch', '--ingest', url, '--key', keyA, '--patient', patientAccount, '--json']);
      assert.equal(fetched.code, 0, fetched.stderr);
      const got = JSON.parse(fetched.stdout) as Fetched;
      assert.deepEqual(got.failures, []);
      const key = (r: { stream: string; seq: number }) => `${r.stream}/${r.seq}`;
      const expected = new Map(sent.filter((s) => s.stream !== 'ecg' && s.body.ts >= FROM && s.body.ts <= UNTIL).map((s) => [key(s), s]));
      const seen = new Set<string>();
      for (const r of got.readings) {
        assert.ok(!seen.has(key(r)), `${key(r)} twice`);
        seen.add(key(r));
        const s = expected.get(key(r));
        assert.ok(s, `${key(r)} at ${r.ts} was not granted (or never sent)`);
        assert.equal(r.ts, s.body.ts);
        assert.deepEqual(r.values, (s.body as { values: unknown }).values);
        assert.equal(r.deviceId, 'ct-dev-0');
      }
      const missing = [...expected.keys()].filter((k) => !seen.has(k));
      assert.deepEqual(missing, [], 'every granted reading the device sent');
      assert.equal(seen.size, 2 * 61, 'hr and spo2 at 500 ms steps across a 30 s window, both ends included');

      // Cryptographically: with every object in storage, A's envelopes open no ecg batch, and B has none at all.
      const cloud = join(dir, 'ingest', 'cloud');
      const envDir = (who: string) => join(cloud, 'envelopes', who, patientAccount);
      const streamsWithEnvelopes = await readdir(envDir(a.address));
      assert.deepEqual(streamsWithEnvelopes.sort(), ['hr', 'spo2']);
      await assert.rejects(readdir(envDir(b.address)), /ENOENT/);
      const envelopes = new Map<string, Uint8Array>();
      for (const s of streamsWithEnvelopes) for (const e of await readdir(join(envDir(a.address), s))) envelopes.set(`${s}/${e}`, await readFile(join(envDir(a.address), s, e)));
      const batchDir = join(cloud, 'batches', patientAccount);
      const batchIds = await readdir(batchDir);
      let ecgBatches = 0;
      for (const id of batchIds) {
        const bytes = await readFile(join(batchDir, id));
        const p = parseBatch(bytes);
        assert.ok(p.ok);
        if (p.value.header.stream !== 'ecg') continue;
        ecgBatches++;
        assert.equal(openWithEnvelopes(a.encryptionKey, envelopes, id, bytes).ok, false, `ecg batch ${id} opened`);
      }
      assert.ok(ecgBatches > 0);

      // Summaries: a minute's min, max and mean cannot be trimmed to a window, so one is served only
      // when its whole minute lies inside the grant. The gateway sealed the minutes around this 30 s
      // window (they are in storage), and A gets none of them.
      const summariesAround = (await readdir(batchDir)).filter((id) => {
        const h = parseBatch(readFileSync(join(batchDir, id)));
        return h.ok && h.value.header.kind === 'summary-1m' && h.value.header.stream === 'hr' && h.value.header.firstTs <= UNTIL && h.value.header.lastTs >= FROM;
      });
      assert.ok(summariesAround.length > 0, 'the gateway sealed minute summaries over the window');
      const asA = new ClinicianClient(url, new Wallet(a.accountKey));
      await asA.signIn();
      const sums = await asA.bundlePage(patientAccount, 'hr', FROM - 60_000, UNTIL + 1, { kind: 'summary-1m' });
      assert.deepEqual(sums.items.map((i) => i.id), [], 'no summary of a minute the grant covers only in part');
      const readingsAround = await asA.bundlePage(patientAccount, 'hr', FROM - 60_000, UNTIL + 1);
      assert.ok(readingsAround.items.length > 0, 'while the readings batches in the window are served');

      // B, without a grant: signed in, but the patient is not among its patients; fetch says so.
      const refused = await vitalgate(['fetch', '--ingest', url, '--key', keyB, '--patient', patientAccount, '--json']);
      assert.notEqual(refused.code, 0);
      assert.match(refused.stderr, /no access to patient/);
      // Asking anyway (the API, not fetch, which asks only for what is granted) is refused and logged.
      const asB = new ClinicianClient(url, new Wallet(b.accountKey));
      await asB.signIn();
      await assert.rejects(asB.batch(patientAccount, batchIds[0]!), (e: ApiError) => e.status === 403 && e.code === 'no-access');

      // Revoke: A is refused from then on, and nothing sealed afterwards opens with A's envelopes.
      const revoke = await vitalgate(['consent', 'revoke', '--patient', PATIENT, '--to', a.address, '--data-dir', gwDir, ...chain, '--json'], env);
      assert.equal(revoke.code, 0, revoke.stderr);
      await sleep(2000);
      const beforeIds = new Set(batchIds);
      await publish(120, 160);
      await status((s) => s.spool?.waiting === 0 && s.spool?.recordsWaiting === 0 && s.unanchoredBatches === 0, 'the later readings uploaded');
      const after = await vitalgate(['fetch', '--ingest', url, '--key', keyA, '--patient', patientAccount, '--json']);
      assert.notEqual(after.code, 0);
      assert.match(after.stderr, /no access to patient/);
      const allEnvelopes = new Map<string, Uint8Array>();
      for (const s of await readdir(envDir(a.address))) for (const e of await readdir(join(envDir(a.address), s))) allEnvelopes.set(`${s}/${e}`, await readFile(join(envDir(a.address), s, e)));
      let later = 0;
      for (const id of await readdir(batchDir)) {
        if (beforeIds.has(id)) continue;
        later++;
        const bytes = await readFile(join(batchDir, id));
        assert.equal(openWithEnvelopes(a.encryptionKey, allEnvelopes, id, bytes).ok, false, `batch ${id} sealed after the revoke opened with A's envelopes`);
      }
      assert.ok(later > 0, 'batches were sealed after the revoke');

      // The patient's view: A's reads (allowed), A's and B's refusals, each proven on chain once anchored.
      let lines: Array<{ clinician: string; decision: string; status: string; reason: string }> = [];
      for (const end = Date.now() + 40_000; Date.now() < end; await sleep(1000)) {
        const audit = await vitalgate(['audit', '--patient', PATIENT, '--data-dir', gwDir, '--ingest', url, ...chain, '--json'], env);
        assert.equal(audit.code, 0, audit.stderr);
        lines = JSON.parse(audit.stdout) as typeof lines;
        if (lines.length && lines.every((l) => l.status === 'proven')) break;
      }
      assert.ok(lines.length > 0);
      assert.deepEqual(lines.filter((l) => l.status !== 'proven'), [], 'every entry proven on chain');
      assert.ok(lines.some((l) => l.clinician === a.address && l.decision === 'allow' && l.reason === 'grant'));
      assert.ok(lines.some((l) => l.clinician === b.address && l.decision === 'deny' && l.reason === 'no-access'));
    } finally {
      await gw?.stop();
      gw = undefined;
      await ingest?.stop();
      ingest = undefined;
      await broker.close();
      provider.destroy();
      await anvil.stop();
    }
  });
});
