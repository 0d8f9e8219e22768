/**
 * The care-team dashboard in real Chromium (Debian's, driven by playwright-core; never a downloaded
 * browser), against the pipeline `vitalgate start` runs: embedded chain, ingest serving the
 * dashboard, broker, gateway and simulated devices, with the demo clinician granted every patient.
 *   - the printed link signs the demo clinician in (its key in the fragment) and lists exactly the
 *     patients the chain lets it see, with their latest values decrypted in the browser;
 *   - the patient view draws the live ECG, which advances as the devices publish;
 *   - the page proves batches against the chain's JSON-RPC itself (verified), and a flipped byte in
 *     one stored batch shows that batch as failed, never drawn;
 *   - a revoke on chain removes the patient from the list and ends its live view;
 *   - break-glass from the page (signed on chain by the clinician) brings the patient back, bannered;
 *   - alarm thresholds raise an alarm on decrypted values; the visible range exports as CSV;
 *   - the key kept encrypted in IndexedDB unlocks in a new tab; an injected EIP-1193 wallet signs in;
 *   - every request and response of the session, captured, holds no reading in the clear: JSON
 *     answers are metadata, binary answers are sealed batches; the page runs under a strict CSP.
 * Screenshots of each view are kept in test-artifacts/dashboard/.
 */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Wallet } from 'ethers';
import { chromium, type Browser } from 'playwright-core';
import { connectContracts } from '@vitalgate/contracts';
import { ClinicianClient } from '@vitalgate/ingest';
import { fromFhirBundle, parseBatch, type FhirBundle } from '@vitalgate/protocol';
import { assertFhirValid } from '@vitalgate/protocol/fhir-schema';
import { DEMO_PASSPHRASE, readStore } from '@vitalgate/edge-gateway';
import { requireProgram } from '@vitalgate/test-support';
import { startPipeline, type Pipeline } from '../../src/pipeline.js';
import { readClinicianKeyFile } from '../../src/clinician-key-file.js';
import { demoClinicianKeyFile } from '../../src/cloud/demo-clinician.js';

const ARTIFACTS = fileURLToPath(new URL('../../../../test-artifacts/dashboard/', import.meta.url));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until<T>(f: () => Promise<T | false | undefined> | T | false | undefined, what: string, ms = 30_000, why?: () => Promise<string>): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out: ${what}${why ? ` (${await why()})` : ''}`);
    await sleep(250);
  }
}

interface Captured { url: string; method: string; status: number; type: string; requestBody: string; body: Buffer }

describe('the care-team dashboard in Chromium', function () {
  this.timeout(240_000);
  let dir: string;
  let p: Pipeline | undefined;
  let browser: Browser | undefined;

  after(async () => {
    await browser?.close();
    p?.sim.stop();
    await p?.shutdown();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('signs in with the demo link, shows the granted patients and the live ECG decrypted in the browser; a revoke removes the patient; no plaintext on the wire', async function () {
    const executablePath = requireProgram(this, 'chromium', 'chromium');
    dir = await mkdtemp(join(tmpdir(), 'vg-dashboard-'));
    await mkdir(ARTIFACTS, { recursive: true });
    p = await startPipeline({ devices: 3, durationS: Infinity, dataDir: join(dir, 'data'), mqttPort: 0, batchWindowMs: 500, anchorSeconds: 5, demoClinician: true });
    const running = p.sim.run();
    void running.catch(() => undefined);
    assert.ok(p.demo, 'start makes a demo clinician');
    assert.match(p.demo.signInUrl, /^http:\/\/127\.0\.0\.1:\d+\/#key=[A-Za-z0-9_-]+$/);
    const keys = readClinicianKeyFile(demoClinicianKeyFile(join(dir, 'data')));
    const api = new ClinicianClient(p.ingest!.url, new Wallet(keys.accountKey));
    await api.signIn();
    // Every patient the gateway has enrolled is granted (the devices' patients, as their first readings arrive).
    const granted = await until(async () => {
      const ps = await api.patients();
      const enrolled = (await p!.gateway.keystore.patients()).length;
      return ps.length >= 2 && ps.length === enrolled && ps;
    }, 'the demo clinician granted every simulated patient', 60_000);

    browser = await chromium.launch({ executablePath, args: ['--no-sandbox', '--disable-dev-shm-usage'] });
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, acceptDownloads: true });
    const page = await context.newPage();
    const captured: Captured[] = [];
    const consoleErrors: string[] = [];
    page.on('console', (m) => { if (m.type() === 'error') consoleErrors.push(m.text()); });
    page.on('response', async (res) => {
      const req = res.request();
      let body: Buffer = Buffer.alloc(0);
      try { body = await res.body(); } catch { /* a stream still open (the live feed) */ }
      captured.push({ url: req.url(), method: req.method(), status: res.status(), type: res.headers()['content-type'] ?? '', requestBody: req.postData() ?? '', body });
    });

    const csp = await (await fetch(p.ingest!.url + '/')).headers.get('content-security-policy');
    assert.match(csp ?? '', /script-src 'self'/);
    assert.doesNotMatch(csp ?? '', /unsafe-inline|unsafe-eval/);

    await page.goto(p.demo.signInUrl);
    await page.waitForSelector('table.patients tbody tr');
    assert.ok(!page.url().includes('key='), 'the key is taken out of the address bar');
    await until(async () => (await page.locator('table.patients tbody tr').count()) === granted.length && true, 'every granted patient listed');
    const shown = await page.locator('table.patients tbody tr').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-patient')));
    assert.deepEqual(new Set(shown), new Set(granted.map((g) => g.patientAccount)), 'exactly the patients the chain grants');
    await until(async () => /\d+ \/min/.test((await page.locator('table.patients').innerText())) && true, 'a heart rate decrypted in the browser', 30_000);
    await page.screenshot({ path: join(ARTIFACTS, 'patients.png'), fullPage: true });

    const target = granted.find((g) => g.access.length)!.patientAccount;
    await page.click(`tr[data-patient="${target}"] a`);
    await page.waitForSelector('#ecg-chart canvas');
    const first = Number(await until(async () => Number(await page.locator('body').getAttribute('data-ecg-batches')) > 0 && page.locator('body').getAttribute('data-ecg-batches'), 'ECG drawn'));
    await until(async () => Number(await page.locator('body').getAttribute('data-ecg-batches')) > first + 2, 'the live ECG advances', 30_000);
    await page.screenshot({ path: join(ARTIFACTS, 'patient-live.png'), fullPage: true });
    assert.equal(await page.locator('body').getAttribute('data-proof-failed'), '0', 'every batch the view fetched opened and proved');

    // Proofs, checked by the page against the chain's JSON-RPC: anchored batches become verified.
    await until(async () => Number(await page.locator('body').getAttribute('data-proof-verified')) > 0, 'a batch verified on chain in the browser', 40_000);
    // A flipped byte in one stored batch: shown as failed, never drawn.
    const latest = (await (async () => { const out = []; for await (const e of api.catalog(target, Date.now() - 15_000, Date.now() + 60_000, 'ecg')) out.push(e); return out; })()).at(-1)!;
    const file = join(dir, 'data', 'cloud', 'batches', target, latest.id);
    const bytes = await readFile(file);
    bytes.writeUInt8(bytes.readUInt8(bytes.length - 5) ^ 0x01, bytes.length - 5);
    await writeFile(file, bytes);
    await page.click('a[href="#/"]');
    await page.waitForSelector('table.patients tbody tr');
    await page.click(`tr[data-patient="${target}"] a`);
    await page.waitForSelector(`#integrity-failures li[data-batch="${latest.id}"]`, { timeout: 20_000 });
    assert.match(await page.locator(`#integrity-failures li[data-batch="${latest.id}"]`).innerText(), /does not hash to its id/);
    await page.screenshot({ path: join(ARTIFACTS, 'patient-tampered.png'), fullPage: true });

    // History: ten minutes of readings by default; the tampered batch is refused there too.
    await until(async () => (await page.locator('body').getAttribute('data-history-loaded')) === String(10 * 60_000) && true, 'the history loaded', 30_000);
    assert.equal(await page.locator('body').getAttribute('data-history-kind'), 'readings');
    assert.ok(Number(await page.locator('body').getAttribute('data-history-points')) > 1000, 'the history drew the ECG samples');
    assert.ok(await page.locator('#history-charts [data-stream="ecg"] canvas').count() > 0);
    await page.waitForSelector(`#history-failures li[data-batch="${latest.id}"]`, { timeout: 20_000 });

    // FHIR R4 built in the browser from the ten minutes shown: schema-valid, every reading in it is
    // one the gateway sealed (none invented, none twice), none from the tampered batch, and none of
    // the settled readings of the range left out.
    const [dl] = await Promise.all([page.waitForEvent('download', { timeout: 60_000 }), page.click('#history-fhir')]);
    const fhir = JSON.parse(await readFile((await dl.path())!, 'utf8')) as FhirBundle;
    assertFhirValid(fhir);
    const exported = fromFhirBundle(fhir);
    await until(async () => (await page.locator('body').getAttribute('data-fhir-exported')) === String(exported.readings.length), 'the page counted what it exported', 10_000);
    assert.ok(exported.readings.length > 100, `${exported.readings.length} readings exported`);
    assert.ok(!exported.batches.some((b) => b.id === latest.id), 'the tampered batch is not in the export');
    const keyOf = (r: { deviceId: string; stream: string; body: { seq: number } }) => `${r.deviceId}/${r.stream}/${r.body.seq}`;
    assert.equal(new Set(exported.readings.map(keyOf)).size, exported.readings.length, 'no reading twice');
    let exportPatient: string | undefined;
    for (const id of await p.gateway.keystore.patients()) if ((await p.gateway.chainLink!.patientWallet(id)).address === target) exportPatient = id;
    const sealedReadings = new Map<string, { deviceId: string; stream: string; body: unknown; batch: string }>();
    for await (const b of readStore(join(dir, 'data'), DEMO_PASSPHRASE, { filter: { patients: [exportPatient!] } })) {
      if (b.ok) for (const body of b.bodies) sealedReadings.set(keyOf({ deviceId: b.header.deviceId, stream: b.header.stream, body }), { deviceId: b.header.deviceId, stream: b.header.stream, body, batch: b.id });
    }
    for (const r of exported.readings) assert.deepEqual(r.body, sealedReadings.get(keyOf(r))?.body, `${keyOf(r)} is a reading the gateway sealed, unchanged`);
    const times = exported.readings.map((r) => r.body.ts);
    const [lo, hi] = [Math.min(...times), Math.max(...times)];
    const settled = [...sealedReadings.entries()].filter(([, v]) => v.batch !== latest.id && (v.body as { ts: number }).ts >= lo + 5_000 && (v.body as { ts: number }).ts <= hi - 30_000);
    const exportedKeys = new Set(exported.readings.map(keyOf));
    const missing = settled.filter(([k]) => !exportedKeys.has(k)).map(([k]) => k);
    assert.deepEqual(missing.slice(0, 5), [], `${missing.length} settled readings of the range left out of the export`);
    // A device reports its lead off and its battery low: sealed into its minute summary by the
    // gateway, marked on the history once that minute is summarised.
    let targetId: string | undefined;
    for (const id of await p.gateway.keystore.patients()) if ((await p.gateway.chainLink!.patientWallet(id)).address === target) targetId = id;
    p.gateway.acceptStatus(targetId!, latest.deviceId, { battery: 9, leadOff: true });
    // Six hours come from minute summaries; keys zoom and pan (minus: out, plus: in, End: now).
    const showSpan = async (label: string, span: number, kind: string, until_: (s: string) => Promise<boolean> = async () => true) => {
      await until(async () => {
        await page.click(`#history button[data-span="${span}"]`);
        await until(async () => (await page.locator('body').getAttribute('data-history-loaded')) === String(span) && true, `${label} loaded`, 30_000);
        return Number(await page.locator('body').getAttribute('data-history-points')) > 0 && (await until_(label)) && true;
      }, `${label} of history with points (${kind}): ${await page.locator('#history-status').innerText()} / ${await page.locator('#history-marks').innerText()} / ${await page.locator('#history-failures').innerText()}`, 120_000).catch(async (e: Error) => {
        throw new Error(`${e.message}; at the end: ${await page.locator('#history-status').innerText()} / ${await page.locator('#history-marks').innerText()} / ${await page.locator('#history-failures').innerText()}`);
      });
      assert.equal(await page.locator('body').getAttribute('data-history-kind'), kind);
    };
    await showSpan('6 h', 6 * 3_600_000, 'summary-1m', async () => (await page.locator('#history-marks li[data-mark="lead-off"]').count()) > 0);
    assert.match(await page.locator('#history-marks').innerText(), /lead off/);
    assert.match(await page.locator('#history-marks').innerText(), /low battery/);
    assert.equal(await page.locator('body').getAttribute('data-history-failed'), '0', 'every summary opened and proved or is pending');
    await page.screenshot({ path: join(ARTIFACTS, 'patient-history-6h.png'), fullPage: true });
    await page.focus('#history');
    await page.keyboard.press('-');
    await until(async () => (await page.locator('body').getAttribute('data-history-loaded')) === String(24 * 3_600_000) && true, 'zoomed out to 24 h by key', 30_000);
    // No hour has ended since the pipeline started: the day comes from the minutes under way.
    assert.equal(await page.locator('body').getAttribute('data-history-kind'), 'summary-1h');
    assert.ok(Number(await page.locator('body').getAttribute('data-history-points')) > 0, 'the hour under way drawn from its minutes');
    await page.keyboard.press('+');
    await page.keyboard.press('+');
    await until(async () => (await page.locator('body').getAttribute('data-history-loaded')) === String(3_600_000) && true, 'zoomed in to 1 h by key', 30_000);
    await page.screenshot({ path: join(ARTIFACTS, 'patient-history-1h.png'), fullPage: true });

    await until(async () => (await page.locator('body').getAttribute('data-live')) === '1', 'the view live again', 30_000);
    // Revoke on chain, from the patient's account: the live view ends and the list drops the patient.
    const link = p.gateway.chainLink!;
    let patientId: string | undefined;
    for (const id of await p.gateway.keystore.patients()) if ((await link.patientWallet(id)).address === target) patientId = id;
    const patient = await link.patientWallet(patientId!);
    await (await connectContracts(link.deployment, patient).consent.revoke(keys.address)).wait();
    await until(async () => (await page.locator('body').getAttribute('data-live-ended')) !== null, 'the live view ends after the revoke', 15_000);
    await page.screenshot({ path: join(ARTIFACTS, 'patient-revoked.png'), fullPage: true });
    await page.click('a[href="#/"]');
    await page.waitForSelector('table.patients tbody tr');
    const rows = () => page.locator('table.patients tbody tr').evaluateAll((rs) => rs.map((r) => r.getAttribute('data-patient')));
    await until(async () => !(await rows()).includes(target), 'the revoked patient leaves the list', 15_000);
    assert.deepEqual(new Set(await rows()), new Set((await api.patients()).map((x) => x.patientAccount)));
    await page.screenshot({ path: join(ARTIFACTS, 'patients-after-revoke.png'), fullPage: true });

    // Break-glass from the dashboard: signed by the clinician's account on chain; the patient comes
    // back under BREAK-GLASS, with a banner.
    await page.fill('#bg-patient', target);
    await page.selectOption('#bg-code', '1');
    await page.fill('#bg-reason', 'arrhythmia alarm from the ward');
    await page.fill('#bg-minutes', '30');
    await page.click('#break-glass-form button[type=submit]');
    await until(async () => (await page.locator('#break-glass-banner').count()) > 0, 'the break-glass banner', 30_000, async () => `#bg-status says: ${await page.locator('#bg-status').innerText().catch(() => '(gone)')}`);
    assert.match(await page.locator('#break-glass-banner').innerText(), /BREAK-GLASS ACTIVE/);
    assert.ok((await rows()).includes(target), 'the patient is back, under break-glass');
    assert.match(await page.locator(`tr[data-patient="${target}"] td.access`).innerText(), /break-glass/);
    await page.screenshot({ path: join(ARTIFACTS, 'patients-break-glass.png'), fullPage: true });

    // Alarms: thresholds saved per clinician, evaluated in the browser on decrypted values.
    const withHr = granted.find((g) => g.patientAccount !== target)!.patientAccount;
    await page.click(`tr[data-patient="${withHr}"] a`);
    await page.waitForSelector('#thresholds');
    await page.fill('#thresholds input[name=hrHigh]', '1');
    await page.click('#thresholds button[type=submit]');
    // Export: the visible range as CSV, built in the browser.
    await until(async () => Number(await page.locator('body').getAttribute('data-ecg-batches')) > 0 || (await page.locator('#numerics').innerText()).includes('/min'), 'something drawn', 20_000);
    const [download] = await Promise.all([page.waitForEvent('download'), page.click('#export-csv')]);
    const csv = await readFile(await download.path(), 'utf8');
    assert.match(csv, /^patient,stream,time_iso,time_ms,value,unit\n/);
    assert.ok(csv.trim().split('\n').length > 1, 'the CSV has rows');
    await page.click('a[href="#/"]');
    await until(async () => /⚠ HR/.test(await page.locator('table.patients').innerText()) && true, 'an HR alarm raised in the browser', 20_000);
    await page.screenshot({ path: join(ARTIFACTS, 'patients-alarm.png'), fullPage: true });
    // Acknowledged: still listed while the condition lasts, no longer calling (the row is not red).
    const classes = async () => (await page.locator(`tr[data-patient="${withHr}"]`).getAttribute('class') ?? '').split(/\s+/);
    assert.ok((await classes()).includes('alarm'));
    await page.click(`tr[data-patient="${withHr}"] button.ack[data-alarm="hr-high"]`);
    await page.waitForSelector(`tr[data-patient="${withHr}"] .acked[data-alarm="hr-high"]`);
    assert.ok(!(await classes()).includes('alarm') && (await classes()).includes('alarm-acked'), (await classes()).join(' '));
    assert.match(await page.locator(`tr[data-patient="${withHr}"] td.alarms`).innerText(), /HR .* \/min > 1 \(acknowledged/);
    await sleep(5_500); // a refresh of the view
    assert.ok(await page.locator(`tr[data-patient="${withHr}"] .acked[data-alarm="hr-high"]`).count() > 0, 'the acknowledgement holds across refreshes');
    await page.screenshot({ path: join(ARTIFACTS, 'patients-alarm-acknowledged.png'), fullPage: true });

    // The key kept in this browser, encrypted under a passphrase: a new tab unlocks it, a wrong passphrase does not.
    await page.fill('#keep-pass', 'correct horse battery staple');
    await page.click('#keep-key button[type=submit]');
    await until(async () => /kept in this browser/.test(await page.locator('#keep-status').innerText()) && true, 'the key kept', 20_000);
    const tab = await context.newPage();
    await tab.goto(new URL('/', p.ingest!.url).toString());
    await tab.waitForSelector('#unlock:not([hidden])');
    await tab.fill('#unlock-pass', 'not the passphrase');
    await tab.click('#unlock-form button[type=submit]');
    await until(async () => /wrong passphrase/.test(await tab.locator('#signin-error').innerText()) && true, 'a wrong passphrase refused', 20_000);
    await tab.fill('#unlock-pass', 'correct horse battery staple');
    await tab.click('#unlock-form button[type=submit]');
    await tab.waitForSelector('table.patients tbody tr', { timeout: 20_000 });
    assert.match(await tab.locator('#who').innerText(), new RegExp(keys.address, 'i'));
    // The clinician's alarm settings and acknowledgements are this clinician's, in this browser.
    await tab.waitForSelector(`tr[data-patient="${withHr}"] .acked[data-alarm="hr-high"]`, { timeout: 20_000 });

    // The clinician's own access history: its reads, the break-glass ones flagged.
    await tab.click('a[href="#/access"]');
    await tab.waitForSelector('table.access-log tbody tr');
    const history = await tab.locator('table.access-log').innerText();
    assert.match(history, /allow/);
    assert.match(history, /BREAK-GLASS/);
    await tab.screenshot({ path: join(ARTIFACTS, 'access-history.png'), fullPage: true });

    // An injected EIP-1193 wallet (a browser extension stands in: it signs in Node with the
    // clinician's account key) signs the SIWE message; the key file then supplies the encryption key.
    const walletContext = await browser.newContext({ viewport: { width: 1024, height: 768 } });
    const walletAccount = new Wallet(keys.accountKey);
    const signed: string[] = [];
    await walletContext.exposeFunction('__vgWalletSign', async (hex: string) => {
      const message = Buffer.from(hex.slice(2), 'hex').toString('utf8');
      signed.push(message);
      return walletAccount.signMessage(message);
    });
    // Runs in the page (no DOM types here: globalThis is the window there).
    await walletContext.addInitScript((address: string) => {
      const w = globalThis as unknown as { ethereum: unknown; __vgWalletSign(h: string): Promise<string> };
      w.ethereum = {
        request: async ({ method, params }: { method: string; params?: unknown[] }) => {
          if (method === 'eth_requestAccounts') return [address];
          if (method === 'personal_sign') return w.__vgWalletSign(params![0] as string);
          throw new Error(`unsupported ${method}`);
        },
      };
    }, walletAccount.address);
    const walletPage = await walletContext.newPage();
    await walletPage.goto(new URL('/', p.ingest!.url).toString());
    await walletPage.click('#wallet-signin');
    await until(async () => /Signed in by your wallet/.test(await walletPage.locator('#keyfile-hint').innerText()) && true, 'signed in by the wallet', 20_000);
    assert.equal(signed.length, 1);
    assert.match(signed[0]!, /wants you to sign in with your Ethereum account/);
    await walletPage.setInputFiles('#keyfile', demoClinicianKeyFile(join(dir, 'data')));
    await walletPage.waitForSelector('table.patients tbody tr', { timeout: 20_000 });
    await walletPage.screenshot({ path: join(ARTIFACTS, 'patients-tablet-wallet.png'), fullPage: true });
    // A tablet held upright: nothing wider than the screen, on the patients view or a patient's.
    await walletPage.setViewportSize({ width: 820, height: 1180 });
    const overflow = () => walletPage.evaluate(() => {
      const d = (globalThis as unknown as { document: { documentElement: { scrollWidth: number; clientWidth: number } } }).document.documentElement;
      return d.scrollWidth - d.clientWidth;
    });
    // What sticks out, to say so when something does.
    const widest = () => walletPage.evaluate(() => {
      type E = { tagName: string; id: string; className: string; getBoundingClientRect(): { right: number } };
      const all = [...(globalThis as unknown as { document: { querySelectorAll(s: string): E[] } }).document.querySelectorAll('body *')];
      return all.filter((e) => e.getBoundingClientRect().right > 820).slice(0, 5).map((e) => `${e.tagName}#${e.id}.${String(e.className)} ${Math.round(e.getBoundingClientRect().right)}`).join(', ');
    });
    assert.ok(await overflow() <= 0, `the patients view is ${await overflow()} px wider than a tablet: ${await widest()}`);
    await walletPage.click(`tr[data-patient="${withHr}"] a`);
    await until(async () => (await walletPage.locator('body').getAttribute('data-history-loaded')) !== null && true, 'the history on a tablet', 60_000);
    await walletPage.screenshot({ path: join(ARTIFACTS, 'patient-tablet.png'), fullPage: true });
    assert.ok(await overflow() <= 0, `the patient view is ${await overflow()} px wider than a tablet: ${await widest()}`);
    await walletContext.close();

    // The whole session on the wire: metadata and ciphertext only.
    assert.ok(captured.length > 10);
    for (const c of captured) {
      assert.ok(!/"values"|"samples"|"hr":|"spo2":/.test(c.requestBody), `${c.method} ${c.url} sends a reading`);
      // A batch asked for in the moment between a revoke and the live view ending is refused (403, JSON).
      if (c.url.includes('/v1/clinician/batches/') && c.status === 200) {
        assert.equal(c.type, 'application/octet-stream');
        assert.ok(parseBatch(new Uint8Array(c.body)).ok, `${c.url} is a sealed batch`);
      } else if (c.type.includes('json')) {
        assert.ok(!/"values"|"samples"|"hr":|"spo2":|"temp":/.test(c.body.toString('utf8')), `${c.url} answers with a reading in the clear`);
      }
    }
    assert.ok(captured.some((c) => c.url.includes('/v1/clinician/batches/')), 'batches were fetched');
    assert.deepEqual(consoleErrors.filter((e) => /Content Security Policy|Refused/.test(e)), [], 'nothing blocked by the CSP');
  });
});
