/**
 * The care-team dashboard: signs in with the clinician's key (a key file, the demo key in the URL
 * fragment, or an injected wallet), fetches ciphertext and key envelopes from the clinician API,
 * decrypts in a Web Worker, and draws. The server never sees a reading or a key.
 *
 * Routes (in the fragment, so nothing about them reaches the server): #/ the patients; #/patient/0x…
 * one patient, live and the last minutes.
 */
import uPlot from 'uplot';
import { hexToBytes } from '@noble/hashes/utils.js';
import { accountAddressOf, checksumAddress, personalSign } from '@vitalgate/protocol';
import { Api, ApiError, fromBase64, type BundleAnchor, type BundleBatch, type CatalogEntry, type LatestPatient, type PatientAccess } from './api.js';
import { parseKeyFile, type ClinicianKey } from './key-file.js';
import { ProofChecker, type ChainConfig, type ProofState } from './proof.js';
import { breakGlass, REASON_CODES } from './break-glass.js';
import { acknowledge, acknowledgements, alarmsFor, loadThresholds, saveThresholds, type Thresholds } from './alarms.js';
import { toCsv } from './export-csv.js';
import { exportFhirInBrowser } from './export-fhir.js';
import { HistoryView, SPANS } from './history.js';
import type { Opened } from './opened.js';
import { forgetKey, saveKey, storedKeyAddress, unlockKey } from './key-store.js';
import { injectedWallet, walletSigner } from './wallet.js';

const api = new Api();
let proofs: ProofChecker | undefined;
let chainConfig: ChainConfig | null = null;
/** The signed-in clinician's account key: kept in this tab's memory only, for what it signs itself (break-glass). */
let accountKey: string | undefined;
/** The key file text of this sign-in, until it is kept (encrypted) or the tab closes. */
let keyText: string | undefined;
const pending = new Map<number, (r: Opened) => void>();
let nextReq = 0;
/** Batches sent to each worker and not answered yet. */
const queued = new Map<Worker, number>();
/**
 * Decryption workers, one per core (up to 4): opening a key envelope is an elliptic-curve
 * multiplication (a few ms), and the patients view opens one per patient and stream at first. A
 * patient's live batches always go to the same worker, so its epoch keys are opened once; a history
 * spreads over all of them (spreadWorker).
 */
const workers = Array.from({ length: Math.max(1, Math.min(4, navigator.hardwareConcurrency || 2)) }, () => {
  const w = new Worker('./decrypt-worker.js', { type: 'module' });
  queued.set(w, 0);
  const answer = (a: Opened & { req: number }) => {
    pending.get(a.req)?.(a);
    pending.delete(a.req);
    queued.set(w, queued.get(w)! - 1);
  };
  w.onmessage = (e: MessageEvent<(Opened & { type: 'opened'; req: number }) | { type: 'opened-many'; results: Array<Opened & { req: number }> }>) => {
    if (e.data.type === 'opened-many') e.data.results.forEach(answer);
    else answer(e.data);
  };
  return w;
});
/**
 * Batches asked of each worker in this task, sent together once it ends ("open-many"): a message
 * each way per batch cost the page's thread ~1 s over the 1800 batches of an hour of ECG.
 */
const outbox = new Map<Worker, { items: unknown[]; transfer: Transferable[] }>();
function post(worker: Worker, item: unknown, transfer: Transferable[]): void {
  let box = outbox.get(worker);
  if (!box) {
    outbox.set(worker, (box = { items: [], transfer: [] }));
    setTimeout(() => {
      outbox.delete(worker);
      worker.postMessage({ type: 'open-many', items: box!.items }, box!.transfer);
    }, 0);
  }
  box.items.push(item);
  box.transfer.push(...transfer);
}
/** Which worker was last given a batch of "patient/stream/epoch" (it keeps that epoch's key). */
const keyWorker = new Map<string, Worker>();
/** How many more batches than the least busy worker the one holding an epoch's key may have queued. */
const SPREAD_SLACK = 32;
/**
 * For a history, which spreads over every worker: the one that already holds the batch's epoch key,
 * unless it has SPREAD_SLACK more queued than the least busy (then that one, which opens the key
 * again: a few ms, against waiting). Seven days of hour summaries are 1344 epochs: each key once.
 */
function spreadWorker(keyId: string): Worker {
  const least = workers.reduce((a, b) => (queued.get(b)! < queued.get(a)! ? b : a));
  const holder = keyWorker.get(keyId);
  const w = holder && queued.get(holder)! - queued.get(least)! < SPREAD_SLACK ? holder : least;
  if (keyWorker.size >= 20_000) keyWorker.clear();
  keyWorker.set(keyId, w);
  return w;
}
function workerFor(patient: string): Worker {
  let h = 0;
  for (let i = 0; i < patient.length; i++) h = (h * 31 + patient.charCodeAt(i)) >>> 0;
  return workers[h % workers.length]!;
}


const UNITS: Record<string, string> = { hr: '/min', spo2: '%', temp: 'Cel', sys: 'mm[Hg]', dia: 'mm[Hg]', resp: '/min' };
const STALE_MS = 2 * 60_000;
const $ = <T extends HTMLElement>(sel: string) => document.querySelector(sel) as T;
const el = (tag: string, attrs: Record<string, string> = {}, ...children: (Node | string)[]): HTMLElement => {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  e.append(...children);
  return e;
};

// ------------------------------------------------------------------------------------- decryption

const envelopeCache = new Map<string, { envelopes: Promise<Map<string, Uint8Array>>; settled: boolean }>();

/**
 * A patient's key envelopes, asked for once: callers at the same time share the request (a view
 * opening its batches side by side asked for every envelope once per batch). `refresh` asks again
 * (a new epoch), unless a request is already under way.
 */
function envelopesOf(patient: string, refresh = false): Promise<Map<string, Uint8Array>> {
  const c = envelopeCache.get(patient);
  if (c && (!refresh || !c.settled)) return c.envelopes;
  const entry = { envelopes: api.envelopes(patient), settled: false };
  envelopeCache.set(patient, entry);
  entry.envelopes.then(() => { entry.settled = true; }, () => { if (envelopeCache.get(patient) === entry) envelopeCache.delete(patient); });
  return entry.envelopes;
}

/**
 * Opens a batch in the patient's worker, or with `spread` in any (spreadWorker: a history).
 * With `key` ("stream/epoch", as the catalog or bundle names the batch) only that envelope goes
 * along: every envelope with every batch was 1344 × 1344 envelopes cloned for seven days of hours.
 */
function openInWorker(patient: string, id: string, bytes: ArrayBuffer, envelopes: Map<string, Uint8Array>, columns = false, o: { key?: string; spread?: boolean } = {}): Promise<Opened> {
  return new Promise((resolve) => {
    const req = ++nextReq;
    pending.set(req, resolve);
    const env = o.key ? envelopes.get(o.key) : undefined;
    const worker = o.spread && o.key ? spreadWorker(`${patient.toLowerCase()}/${o.key}`) : workerFor(patient.toLowerCase());
    queued.set(worker, queued.get(worker)! + 1);
    post(worker, { type: 'open', req, id, patient, bytes, envelopes: o.key ? (env ? { [o.key]: env } : {}) : Object.fromEntries(envelopes), columns }, [bytes]);
  });
}

/** Opens a batch that came in a bundle; its item names stream and epoch, so a new epoch's envelope is fetched first. */
async function openBundled(patient: string, b: BundleBatch, columns: boolean, spread = false): Promise<Opened> {
  const key = `${b.item.stream}/${b.item.epoch}`;
  const have = await envelopesOf(patient);
  return openInWorker(patient, b.item.id, b.bytes, have.has(key) ? have : await envelopesOf(patient, true), columns, { key, spread });
}

/** Fetches and opens one batch; a missing envelope (a new epoch) refreshes the envelopes once. */
async function openBatch(patient: string, e: CatalogEntry): Promise<Opened> {
  const key = `${e.stream}/${e.epoch}`;
  let r = await openInWorker(patient, e.id, await api.batch(patient, e.id), await envelopesOf(patient), false, { key });
  if (!r.ok && r.reason.startsWith('no key envelope')) r = await openInWorker(patient, e.id, await api.batch(patient, e.id), await envelopesOf(patient, true), false, { key });
  return r;
}

// ---------------------------------------------------------------------------------------- sign-in

async function signInWithText(text: string): Promise<void> {
  await signInWith(parseKeyFile(text));
  keyText = text;
}

async function signInWith(key: ClinicianKey): Promise<void> {
  // Signed with noble (protocol/src/eth-sign.ts), not ethers: the sign-in no longer waits for ethers,
  // which only break-glass loads.
  const secret = hexToBytes(key.accountKey.slice(2));
  await api.signIn({ address: checksumAddress(accountAddressOf(secret)), signMessage: async (m) => personalSign(secret, m) });
  accountKey = key.accountKey;
  await useEncryptionKey(key);
}

/** The page's chain settings, asked for early on a sign-in by link (they are public). */
let configPrefetch: Promise<{ chain: ChainConfig | null }> | undefined;

/** Hands the encryption key to the decrypting worker, and reads the page's chain settings. */
async function useEncryptionKey(key: ClinicianKey): Promise<void> {
  for (const w of workers) w.postMessage({ type: 'key', key: key.encryptionKey });
  const config = configPrefetch?.catch(() => undefined);
  configPrefetch = undefined;
  chainConfig = ((await config) ?? (await api.config<{ chain: ChainConfig | null }>())).chain;
  proofs = new ProofChecker(api, chainConfig);
}

/** Signed in by a wallet, waiting for the key file that decrypts. */
let walletSignedIn = false;

function showSignIn(message = ''): void {
  const main = $('#main');
  main.replaceChildren(
    el('h1', {}, 'Sign in'),
    el('section', { id: 'unlock', hidden: '' },
      el('h2', {}, 'Your key in this browser'),
      el('form', { id: 'unlock-form' },
        el('label', { for: 'unlock-pass' }, 'Passphrase '), el('input', { id: 'unlock-pass', type: 'password', autocomplete: 'current-password', required: '' }),
        el('button', { type: 'submit' }, 'Unlock and sign in'), ' ', el('button', { id: 'forget', type: 'button' }, 'Forget it'))),
    el('section', { id: 'wallet', hidden: '' },
      el('p', {}, el('button', { id: 'wallet-signin', type: 'button' }, 'Sign in with your browser wallet'),
        ' The wallet signs; then import your key file for decryption (only its encryption key is used).')),
    el('p', { id: 'keyfile-hint' }, 'Import your clinician key file (made by ', el('code', {}, 'vitalgate clinicians add --generate'), '). It stays in this browser; only a signature is sent.'),
    el('label', { for: 'keyfile' }, 'Key file '),
    el('input', { id: 'keyfile', type: 'file', accept: '.key,.json,application/json' }),
    el('p', { id: 'signin-error', role: 'alert', class: 'error' }, message),
  );
  void storedKeyAddress().then((a) => {
    if (!a) return;
    $('#unlock').hidden = false;
    $('#unlock').querySelector('h2')!.textContent = `Your key in this browser (${a})`;
  }).catch(() => undefined);
  $('#unlock-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    $('#signin-error').textContent = 'unlocking…';
    unlockKey($<HTMLInputElement>('#unlock-pass').value)
      .then(async (text) => { await signInWith(parseKeyFile(text)); route(); })
      .catch((e: Error) => { $('#signin-error').textContent = e.message; });
  });
  $('#forget').addEventListener('click', () => void forgetKey().then(() => { $('#unlock').hidden = true; }));
  const wallet = injectedWallet();
  if (wallet) $('#wallet').hidden = false;
  $('#wallet-signin').addEventListener('click', () => {
    $('#signin-error').textContent = 'waiting for the wallet…';
    walletSigner(wallet!)
      .then((signer) => api.signIn(signer))
      .then(() => {
        walletSignedIn = true;
        $('#signin-error').textContent = '';
        $('#keyfile-hint').textContent = `Signed in by your wallet as ${api.address}. Now import your key file: its encryption key opens what you may see.`;
      })
      .catch((e: Error) => { $('#signin-error').textContent = `the wallet did not sign in: ${e.message}`; });
  });
  $<HTMLInputElement>('#keyfile').addEventListener('change', async (ev) => {
    const f = (ev.target as HTMLInputElement).files?.[0];
    if (!f) return;
    try {
      if (walletSignedIn) {
        await useEncryptionKey(parseKeyFile(await f.text()));
        return route();
      }
      await signInWithText(await f.text());
      route();
    } catch (e) {
      $('#signin-error').textContent = (e as Error).message;
    }
  });
}

/** Offers to keep the key just used, encrypted under a passphrase, so the next visit needs no file. */
function keepKeyForm(): HTMLElement {
  const form = el('form', { id: 'keep-key' },
    el('label', { for: 'keep-pass' }, 'Keep my key in this browser, encrypted under a passphrase: '),
    el('input', { id: 'keep-pass', type: 'password', autocomplete: 'new-password', minlength: '8', required: '' }),
    el('button', { type: 'submit' }, 'Keep'), el('span', { id: 'keep-status', role: 'status' }));
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const text = keyText;
    if (!text || !api.address) return;
    $('#keep-status').textContent = ' encrypting…';
    saveKey(text, api.address, $<HTMLInputElement>('#keep-pass').value)
      .then(() => { keyText = undefined; form.replaceChildren(el('span', { id: 'keep-status', role: 'status' }, 'Your key is kept in this browser, encrypted; next time unlock it with the passphrase.')); })
      .catch((e: Error) => { $('#keep-status').textContent = ` ${e.message}`; });
  });
  return form;
}

// --------------------------------------------------------------------------------------- patients

interface Latest { ts: number; values: Record<string, number> }

/** The streams the patients view shows. */
const ROW_STREAMS = ['hr', 'spo2', 'temp', 'bp'];

/** Opens the newest batches /latest gave for one patient (in the worker) and keeps each stream's last reading. */
async function latestValues(p: LatestPatient): Promise<Map<string, Latest>> {
  const out = new Map<string, Latest>();
  const envelopes = new Map(p.envelopes.map((e) => [`${e.stream}/${e.epoch}`, fromBase64(e.envelope)]));
  await Promise.all(p.batches.map(async (b) => {
    const bytes = fromBase64(b.sealed);
    const r = await openInWorker(p.patientAccount, b.id, bytes.buffer as ArrayBuffer, envelopes);
    if (!r.ok) return;
    const reading = r.readings?.at(-1);
    if (reading?.values) out.set(b.stream, { ts: reading.ts, values: reading.values });
  }));
  return out;
}

const fmt = (v: number | undefined, unit: string) => (v === undefined ? '–' : `${Math.round(v * 10) / 10} ${unit}`);
const when = (ms: number) => (ms >= 2 ** 48 - 1 ? 'no end' : new Date(ms).toLocaleString());

let refreshTimer: ReturnType<typeof setInterval> | undefined;
/** How often the patients view asks again: new grants appear, revoked ones go, values move. */
const PATIENTS_REFRESH_MS = 5_000;

async function showPatients(): Promise<void> {
  const main = $('#main');
  main.replaceChildren(el('h1', {}, 'Patients'), el('p', { id: 'status' }, 'Loading…'));
  let shown = '';
  const render = async () => {
    // One request for the whole view: who may be seen, and each one's newest values, sealed.
    const t0 = performance.now();
    const latest = await api.latest(ROW_STREAMS);
    const t1 = performance.now();
    const patients: PatientAccess[] = latest.map((p) => ({ patientAccount: p.patientAccount, access: p.access }));
    const key = patients.map((p) => `${p.patientAccount}:${JSON.stringify(p.access)}`).sort().join('|');
    if (key !== shown) {
      shown = key;
      const table = el('table', { class: 'patients' },
        el('thead', {}, el('tr', {}, ...['Patient', 'Last reading', 'HR', 'SpO2', 'Temp', 'BP', 'Alarms', 'Access'].map((h) => el('th', { scope: 'col' }, h)))));
      const body = el('tbody');
      table.append(body);
      for (const p of patients) body.append(patientRow(p));
      const glass = patients.filter((p) => p.access.some((a) => a.via === 'break-glass'));
      main.replaceChildren(
        ...(glass.length ? [el('p', { id: 'break-glass-banner', role: 'alert', class: 'banner' }, `BREAK-GLASS ACTIVE: ${glass.map((p) => `${short(p.patientAccount)} until ${when(p.access.find((a) => a.via === 'break-glass')!.expiresAt * 1000)}`).join('; ')}. Every access is logged and the patient is told.`)] : []),
        el('h1', {}, `Patients (${patients.length})`), table);
      if (!patients.length) main.append(el('p', {}, 'No patient has granted you access.'));
      if (keyText) main.append(keepKeyForm());
      main.append(breakGlassForm());
    }
    // Every row opened first, then every row written at once: one layout of the table, not one per answer.
    const values = await Promise.all(latest.map((p) => latestValues(p)));
    latest.forEach((p, i) => fillRow(p, values[i]!));
    recordPatientsLoad({ requestMs: Math.round(t1 - t0), openMs: Math.round(performance.now() - t1), patients: latest.length, batches: latest.reduce((n, p) => n + p.batches.length, 0) });
  };
  await render();
  refreshTimer = setInterval(() => void render().catch(() => undefined), PATIENTS_REFRESH_MS);
}

function breakGlassForm(): HTMLElement {
  const codes = el('select', { id: 'bg-code' }, ...REASON_CODES.map((c, i) => el('option', { value: String(i) }, `${i}: ${c}`)));
  const form = el('form', { id: 'break-glass-form' },
    el('h2', {}, 'Emergency access (break-glass)'),
    el('p', {}, 'Opens a patient\'s whole record for a bounded time, signed by your account on chain. The patient is told; every use after the first counts toward a ban.'),
    el('label', { for: 'bg-patient' }, 'Patient account '), el('input', { id: 'bg-patient', required: '', pattern: '0x[0-9a-fA-F]{40}', size: '44' }),
    el('label', { for: 'bg-code' }, ' Reason '), codes,
    el('label', { for: 'bg-reason' }, ' Details '), el('input', { id: 'bg-reason', required: '', size: '30' }),
    el('label', { for: 'bg-minutes' }, ' Minutes '), el('input', { id: 'bg-minutes', type: 'number', min: '1', max: '240', value: '60' }),
    el('button', { type: 'submit' }, 'Break the glass'),
    el('p', { id: 'bg-status', role: 'status' }));
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const status = $('#bg-status');
    if (!chainConfig || !accountKey) {
      status.textContent = 'this ingest names no chain endpoint: break-glass from the command line (vitalgate clinicians break-glass)';
      return;
    }
    status.textContent = 'sending to the chain…';
    breakGlass(chainConfig, accountKey, $<HTMLInputElement>('#bg-patient').value.trim(), Number($<HTMLSelectElement>('#bg-code').value), $<HTMLInputElement>('#bg-reason').value, Number($<HTMLInputElement>('#bg-minutes').value))
      .then(() => { status.textContent = 'break-glass active: the patient appears in the list within seconds'; })
      .catch((e: Error & { shortMessage?: string }) => { status.textContent = `refused: ${e.shortMessage ?? e.message}`; });
  });
  return form;
}

function patientRow(p: PatientAccess): HTMLElement {
  const a = p.access[0]!;
  const access = p.access.map((w) => `${w.via}${w.via === 'break-glass' ? ' (BREAK-GLASS)' : ''}: ${w.streams.join(', ')} until ${when(w.expiresAt * 1000)}`).join('; ');
  const row = el('tr', { 'data-patient': p.patientAccount, class: a.via === 'break-glass' ? 'break-glass' : '' },
    el('td', {}, el('a', { href: `#/patient/${p.patientAccount}` }, short(p.patientAccount))),
    el('td', { class: 'last' }, '…'), el('td', { class: 'hr' }, '…'), el('td', { class: 'spo2' }, '…'), el('td', { class: 'temp' }, '…'), el('td', { class: 'bp' }, '…'),
    el('td', { class: 'alarms' }, ''), el('td', { class: 'access' }, access));
  return row;
}

function fillRow(p: LatestPatient, latest: Map<string, Latest>): void {
  const row = document.querySelector(`tr[data-patient="${p.patientAccount}"]`);
  if (!row) return;
  const cell = (c: string, text: string) => { row.querySelector(`.${c}`)!.textContent = text; };
  const last = Math.max(0, ...[...latest.values()].map((l) => l.ts));
  cell('last', last ? new Date(last).toLocaleTimeString() : 'no data');
  if (last && Date.now() - last > STALE_MS) {
    row.classList.add('stale');
    cell('last', `${new Date(last).toLocaleTimeString()} (STALE: nothing for ${Math.round((Date.now() - last) / 60_000)} min)`);
  }
  // Alarms are evaluated here, on decrypted values: the server never sees a value to compare.
  const alarms = alarmsFor(loadThresholds(api.address!, p.patientAccount), { hr: latest.get('hr')?.values.hr, spo2: latest.get('spo2')?.values.spo2, temp: latest.get('temp')?.values.temp });
  const acks = acknowledgements(api.address!, p.patientAccount, alarms);
  const td = row.querySelector('.alarms')!;
  td.replaceChildren(...(alarms.length ? alarms.map((a) => {
    const at = acks[a.kind];
    if (at !== undefined) return el('span', { class: 'acked', 'data-alarm': a.kind }, `${a.text} (acknowledged ${new Date(at).toLocaleTimeString()}) `);
    const b = el('button', { type: 'button', class: 'ack', 'data-alarm': a.kind, 'aria-label': `Acknowledge: ${a.text}` }, 'Acknowledge');
    b.addEventListener('click', () => { acknowledge(api.address!, p.patientAccount, a.kind); fillRow(p, latest); });
    return el('span', { class: 'active', 'data-alarm': a.kind }, `⚠ ${a.text} `, b, ' ');
  }) : ['none']));
  // Red while any alarm waits for someone; an acknowledged one stays listed, quietly.
  row.classList.toggle('alarm', alarms.some((a) => acks[a.kind] === undefined));
  row.classList.toggle('alarm-acked', alarms.length > 0 && alarms.every((a) => acks[a.kind] !== undefined));
  cell('hr', fmt(latest.get('hr')?.values.hr, UNITS.hr!));
  cell('spo2', fmt(latest.get('spo2')?.values.spo2, UNITS.spo2!));
  cell('temp', fmt(latest.get('temp')?.values.temp, UNITS.temp!));
  const bp = latest.get('bp')?.values;
  cell('bp', bp ? `${bp.sys}/${bp.dia} mm[Hg]` : '–');
}

const short = (a: string) => `${a.slice(0, 8)}…${a.slice(-4)}`;

// ---------------------------------------------------------------------------------------- patient

let stopLive: AbortController | undefined;

function chart(title: string, unit: string, target: HTMLElement, width: number): uPlot {
  return new uPlot({
    title, width, height: 200, scales: { x: { time: true } },
    series: [{}, { label: `${title} (${unit})`, stroke: '#0072B2', width: 1 }],
    axes: [{}, { label: unit }],
  }, [[], []], target);
}

/** What the patient view draws or shows live: waveforms scrolling, the rest as numerics (heart rate also charted). */
const LIVE_STREAMS: ReadonlySet<string> = new Set(['ecg', 'ppg', 'hr', 'spo2', 'temp', 'bp', 'resp']);

/** Each granted stream with the time it is granted over: where the history may ask. */
function grantedStreams(access: PatientAccess['access']): Array<{ stream: string; from: number; until: number }> {
  const by = new Map<string, { stream: string; from: number; until: number }>();
  for (const w of access) {
    for (const stream of w.streams) {
      const g = by.get(stream);
      if (!g) by.set(stream, { stream, from: w.from, until: w.until });
      else { g.from = Math.min(g.from, w.from); g.until = Math.max(g.until, w.until); }
    }
  }
  return [...by.values()];
}

/** How often a live view asks where its pending batches are anchored (all of them in one request). */
const PROOF_RECHECK_MS = 5_000;
/** The history's range when the route names none. */
const DEFAULT_HISTORY_MS = 10 * 60_000;

async function showPatient(patient: string, spanMs?: number): Promise<void> {
  stopLive?.abort();
  const ctl = new AbortController();
  stopLive = ctl;
  const main = $('#main');
  main.replaceChildren(
    el('p', {}, el('a', { href: '#/' }, '← Patients')),
    el('h1', {}, `Patient ${short(patient)}`),
    el('p', { id: 'live-status', role: 'status' }, 'Loading the last minutes…'),
    el('section', { id: 'integrity', 'aria-label': 'Proof of integrity' },
      el('p', { id: 'integrity-summary' }, 'Integrity: checking…'), el('ul', { id: 'integrity-failures', class: 'error' })),
    el('section', { id: 'numerics', class: 'numerics', 'aria-label': 'Latest values' }),
    el('p', {}, el('button', { id: 'export-csv', type: 'button' }, 'Export the visible range (CSV)')),
    thresholdsForm(patient),
    el('div', { id: 'ecg-chart' }),
    el('div', { id: 'ppg-chart' }),
    el('div', { id: 'hr-chart' }),
  );
  // The content box: a chart as wide as the padded main would overflow a tablet.
  const width = Math.min(1200, (main.clientWidth || 1040) - 40);
  // History beside the live view, from its own requests: only what the grants cover is asked for.
  // It starts once the live view is up, so the live view's batches are not queued behind it; a link
  // to a history range (spanMs given) is the other way round: that range is what was asked for.
  const historyFirst = spanMs !== undefined;
  let liveUp: () => void = () => undefined;
  const live = new Promise<void>((r) => { liveUp = r; });
  let historyUp: () => void = () => undefined;
  const historyDrawn = new Promise<void>((r) => { historyUp = r; });
  ctl.signal.addEventListener('abort', () => { liveUp(); historyUp(); });
  // What the grants cover: only that is asked for, live or past (a refused request counts toward a ban).
  const accessP = api.patients().then((ps) => ps.find((x) => x.patientAccount.toLowerCase() === patient.toLowerCase())?.access ?? []);
  // The envelopes, asked for as soon as a grant is known (not before: a refusal counts toward a
  // ban): every batch, live or past, needs one, and a week of them is 1344.
  void accessP.then((access) => { if (access.length) envelopesOf(patient).catch(() => undefined); }, () => undefined);
  void accessP.then(async (access) => {
    if (!historyFirst) await live;
    if (ctl.signal.aborted) return;
    const history = new HistoryView({
      patient,
      streams: grantedStreams(access),
      bundle: (stream, from, to, kind, signal, onPage) => api.bundle(patient, stream, from, to, kind, signal, onPage),
      open: (b, columns) => openBundled(patient, b, columns, true),
      prove: (id, anchor) => (proofs ? proofs.checkAnchor(id, anchor) : Promise.resolve('pending')),
      bytesIn: () => api.bytesIn,
    }, spanMs ?? DEFAULT_HISTORY_MS, width);
    history.onExport = (series) => download(`vitalgate-${patient}-history-${new Date().toISOString()}.csv`, toCsv(patient, series));
    history.onFhirExport = (from, to) => {
      const status = $('#history-status');
      status.textContent = 'Building the FHIR R4 export in this browser…';
      exportFhirInBrowser({
        streams: grantedStreams(access),
        bundle: (stream, a, b) => api.bundle(patient, stream, a, b, 'readings'),
        open: (b) => openBundled(patient, b, false, true),
        prove: (id, anchor) => (proofs ? proofs.checkAnchor(id, anchor) : Promise.resolve('pending')),
      }, from, to).then((x) => {
        download(`vitalgate-${patient}-fhir-${new Date(from).toISOString()}.json`, JSON.stringify(x.bundle, null, 1), 'application/fhir+json');
        status.textContent = `FHIR R4 export: ${x.counts.observations} Observations from ${x.counts.readings} readings, ${x.counts.provenances} Provenances${x.failed.length ? `; ${x.failed.length} batches left out (failed to open or prove)` : ''}`;
        document.body.dataset.fhirExported = String(x.counts.readings);
      }, (e: Error) => { status.textContent = `FHIR export: ${e.message}`; });
    };
    main.append(history.root);
    ctl.signal.addEventListener('abort', () => history.stop());
    void history.show(spanMs ?? DEFAULT_HISTORY_MS, undefined).finally(historyUp);
  }, (e: Error) => { historyUp(); main.append(el('p', { class: 'error' }, `history unavailable: ${e.message}`)); });
  const ecg = chart('ECG', 'mV', $('#ecg-chart'), width);
  const ppg = chart('PPG (pleth)', '{count}', $('#ppg-chart'), width);
  const hr = chart('Heart rate', '/min', $('#hr-chart'), width);
  const ecgPts: [number[], number[]] = [[], []];
  const ppgPts: [number[], number[]] = [[], []];
  const hrPts: [number[], number[]] = [[], []];
  /** The newest value of each scalar stream, for the numerics line. */
  const newest = new Map<string, { ts: number; values: Record<string, number> }>();
  const showNumerics = () => {
    const parts: string[] = [];
    const v = (s: string) => newest.get(s)?.values;
    if (v('hr')) parts.push(`HR ${fmt(v('hr')!.hr, UNITS.hr!)}`);
    if (v('spo2')) parts.push(`SpO2 ${fmt(v('spo2')!.spo2, UNITS.spo2!)}`);
    if (v('temp')) parts.push(`Temp ${fmt(v('temp')!.temp, UNITS.temp!)}`);
    if (v('bp')) parts.push(`BP ${v('bp')!.sys}/${v('bp')!.dia} mm[Hg]`);
    if (v('resp')) parts.push(`Resp ${fmt(v('resp')!.resp, UNITS.resp!)}`);
    const at = Math.max(...[...newest.values()].map((x) => x.ts));
    $('#numerics').textContent = parts.length ? `${parts.join(' · ')} at ${new Date(at).toLocaleTimeString()}` : '';
  };
  const seen = new Set<string>();
  let ecgBatches = 0;
  const states = new Map<string, ProofState>();
  const showStates = () => {
    const n = (x: ProofState) => [...states.values()].filter((v) => v === x).length;
    $('#integrity-summary').textContent = `Integrity: ${n('verified')} verified on chain · ${n('pending')} pending (not anchored yet) · ${n('failed')} FAILED${proofs?.available ? '' : ' (no chain endpoint: proofs unchecked)'}`;
    Object.assign(document.body.dataset, { proofVerified: String(n('verified')), proofPending: String(n('pending')), proofFailed: String(n('failed')) });
  };
  const failed = (id: string, reason: string) => {
    states.set(id, 'failed');
    $('#integrity-failures').append(el('li', { 'data-batch': id }, `batch ${id.slice(0, 12)}…: ${reason} (not drawn)`));
    showStates();
  };
  const settle = (id: string, st: ProofState) => {
    if (st === 'failed') return failed(id, 'its Merkle proof does not lead to a root the gateway anchored');
    states.set(id, st);
  };
  /** With the anchor a bundle item carried, checked at once; without (a live batch), pending until `recheck` asks. */
  const prove = async (id: string, anchor?: BundleAnchor) => {
    if (!anchor) return;
    settle(id, await proofs!.checkAnchor(id, anchor).catch(() => 'pending' as const));
    showStates();
  };
  // Every pending batch in one request (GET /v1/clinician/proofs/{patient}?ids=), every few
  // seconds: a live batch is not anchored for the first anchor period, so asking as it arrives
  // was a request per batch answering "not yet".
  let rechecking = false;
  const recheck = setInterval(() => {
    const ids = [...states].filter(([, st]) => st === 'pending').map(([id]) => id);
    if (!ids.length || rechecking || ctl.signal.aborted) return;
    rechecking = true;
    proofs!.checkMany(patient, ids)
      .then((got) => { for (const [id, st] of got) if (states.get(id) === 'pending') settle(id, st); showStates(); })
      .catch(() => undefined)
      .finally(() => { rechecking = false; });
  }, PROOF_RECHECK_MS);
  ctl.signal.addEventListener('abort', () => clearInterval(recheck));
  const take = (o: Opened, anchor?: BundleAnchor) => {
    if (!o.ok) return failed(o.id, o.reason);
    states.set(o.id, 'pending');
    showStates();
    void prove(o.id, anchor);
    for (const r of o.readings ?? []) {
      if ((o.stream === 'ecg' || o.stream === 'ppg') && r.samples && r.rate) {
        const [pts, scale] = o.stream === 'ecg' ? [ecgPts, 1 / 1000] : [ppgPts, 1];
        const n = r.samples.length;
        for (let i = 0; i < n; i++) { pts[0].push((r.ts + (i * 1000) / r.rate) / 1000); pts[1].push(r.samples[i]! * scale); }
      } else if (r.values) {
        if (o.stream === 'hr' && r.values.hr !== undefined) { hrPts[0].push(r.ts / 1000); hrPts[1].push(r.values.hr); }
        if ((newest.get(o.stream)?.ts ?? -1) <= r.ts) newest.set(o.stream, { ts: r.ts, values: r.values });
      }
    }
    if (o.stream === 'ecg') ecgBatches++;
    sortAndTrim(ecgPts, 10);
    sortAndTrim(ppgPts, 10);
    sortAndTrim(hrPts, 600);
    ecg.setData(ecgPts);
    ppg.setData(ppgPts);
    hr.setData(hrPts);
    showNumerics();
    document.body.dataset.ecgBatches = String(ecgBatches);
  };
  let liveSince = Number.MAX_SAFE_INTEGER;
  const load = async (e: CatalogEntry, live = false) => {
    if (seen.has(e.id) || !LIVE_STREAMS.has(e.stream)) return;
    // The feed first replays its look-back window (2 min): what is older than the view keeps (10 s
    // of a waveform) would be fetched one by one only to be trimmed away, beside a history loading.
    if (e.lastTs < Date.now() - lookback(e.stream)) return;
    seen.add(e.id);
    const o = await openBatch(patient, e);
    take(o);
    // From the last reading's device time to drawn: what the benchmark reads as live latency. Only
    // batches sealed since the view went live: the feed first replays its look-back window.
    // Both ends of the batch: its first reading waited the whole batch window at the gateway.
    if (live && o.ok && e.firstTs >= liveSince) requestAnimationFrame(() => recordLatency(Date.now() - e.firstTs, Date.now() - e.lastTs));
  };
  $('#export-csv').addEventListener('click', () => download(`vitalgate-${patient}-${new Date().toISOString()}.csv`, toCsv(patient, [['ecg', 'mV', ecgPts], ['ppg', '{count}', ppgPts], ['hr', '/min', hrPts]])));
  const end = (why: string) => {
    ctl.abort();
    $('#live-status').textContent = why;
    document.body.dataset.liveEnded = why;
    delete document.body.dataset.live;
  };
  // Access can end at any moment, also while the last minutes load: a refusal ends the view.
  const loadOrEnd = async (e: CatalogEntry, live = false) => {
    try {
      await load(e, live);
    } catch (err) {
      if (err instanceof ApiError && err.status === 403) end(`access to this patient ended (${err.code})`);
      else $('#live-status').textContent = `could not load a batch: ${(err as Error).message}`;
    }
  };
  delete document.body.dataset.liveEnded;
  document.body.dataset.ecgBatches = '0';
  const now = Date.now();
  const granted = new Set(grantedStreams(await accessP.catch(() => [])).map((g) => g.stream));
  if (historyFirst) await historyDrawn;
  if (ctl.signal.aborted) return;
  // The last seconds of the waveforms, ten minutes of heart rate, the newest of the rest: one bundle
  // per stream, opened side by side; the feed carries on from there.
  const lookback = (s: string) => (s === 'ecg' || s === 'ppg' ? 15_000 : s === 'hr' ? 10 * 60_000 : 2 * 60_000);
  try {
    await Promise.all([...LIVE_STREAMS].filter((s) => granted.has(s)).map(async (s) => {
      const items = await api.bundle(patient, s, now - lookback(s), now + 60_000, 'readings', ctl.signal);
      await Promise.all(items.map(async (b) => {
        if (seen.has(b.item.id)) return;
        seen.add(b.item.id);
        const o = await openBundled(patient, b, false);
        if (!ctl.signal.aborted) take(o, b.item.anchor);
      }));
    }));
  } catch (err) {
    if (ctl.signal.aborted) return;
    if (err instanceof ApiError && err.status === 403) return end(`access to this patient ended (${err.code})`);
    $('#live-status').textContent = `could not load the last minutes: ${(err as Error).message}`;
  }
  if (ctl.signal.aborted) return;
  $('#live-status').textContent = 'Live';
  document.body.dataset.live = '1';
  liveUp();
  liveSince = Date.now();
  void api.feed(patient, (e) => void loadOrEnd(e, true), end, ctl.signal);
}

/** Hands a file built here to the browser's download: the data never leaves this machine otherwise. */
function download(name: string, text: string, type = 'text/csv'): void {
  const a = el('a', { href: URL.createObjectURL(new Blob([text], { type })), download: name });
  a.click();
  setTimeout(() => URL.revokeObjectURL(a.getAttribute('href')!), 10_000);
}

function thresholdsForm(patient: string): HTMLElement {
  const t = loadThresholds(api.address!, patient);
  const field = (k: keyof Thresholds, label: string, unit: string) => el('label', {}, `${label} `, el('input', { type: 'number', step: 'any', name: k, value: String(t[k]), size: '5' }), ` ${unit} `);
  const form = el('form', { id: 'thresholds', 'aria-label': 'Alarm thresholds' },
    el('strong', {}, 'Alarms: '), field('hrLow', 'HR below', '/min'), field('hrHigh', 'above', '/min'), field('spo2Low', 'SpO2 below', '%'),
    field('tempHigh', 'Temp above', 'Cel'), el('button', { type: 'submit' }, 'Save'));
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const data = new FormData(form as HTMLFormElement);
    saveThresholds(api.address!, patient, { hrLow: Number(data.get('hrLow')), hrHigh: Number(data.get('hrHigh')), spo2Low: Number(data.get('spo2Low')), tempHigh: Number(data.get('tempHigh')) });
  });
  return form;
}

/** Keeps points in time order and only the last `seconds` of them. */
function sortAndTrim(p: [number[], number[]], seconds: number): void {
  const idx = p[0].map((_, i) => i).sort((a, b) => p[0][a]! - p[0][b]!);
  const xs = idx.map((i) => p[0][i]!);
  const ys = idx.map((i) => p[1][i]!);
  const cut = xs.findIndex((x) => x >= (xs.at(-1) ?? 0) - seconds);
  p[0] = xs.slice(Math.max(0, cut));
  p[1] = ys.slice(Math.max(0, cut));
}

// ----------------------------------------------------------------------------------------- access

async function showAccess(): Promise<void> {
  const main = $('#main');
  main.replaceChildren(el('p', {}, el('a', { href: '#/' }, '← Patients')), el('h1', {}, 'My access history'), el('p', {}, 'Loading…'));
  const entries = (await api.accessLog()).reverse();
  const table = el('table', { class: 'access-log' },
    el('thead', {}, el('tr', {}, ...['Time', 'Patient', 'Stream', 'Readings', 'Request', 'Decision', 'Why'].map((h) => el('th', { scope: 'col' }, h)))),
    el('tbody', {}, ...entries.map((e) => el('tr', { class: `${e.decision}${e.breakGlass ? ' break-glass' : ''}` },
      el('td', {}, new Date(e.ts).toLocaleString()), el('td', {}, e.patient ? short(e.patient) : '–'), el('td', {}, e.stream ?? 'any'),
      el('td', {}, e.from !== undefined && e.to !== undefined ? `${new Date(e.from).toLocaleTimeString()}–${new Date(e.to).toLocaleTimeString()}` : '–'),
      el('td', {}, e.route), el('td', {}, e.decision), el('td', {}, `${e.reason}${e.breakGlass ? ' (BREAK-GLASS)' : ''}`)))));
  main.replaceChildren(el('p', {}, el('a', { href: '#/' }, '← Patients')), el('h1', {}, `My access history (${entries.length})`),
    el('p', {}, 'Every request you made, allowed or denied, as the access log holds it (the patient sees the same entries, proven on chain).'), table);
}

// ------------------------------------------------------------------------------------------ stats

/**
 * Figures the page keeps about itself for `npm run bench` (read through `globalThis.vitalgateStats`):
 * times and byte counts only, never a reading.
 */
const stats = {
  /** Live batches, from the first reading's device time (the one that waited longest) to drawn. */
  liveLatencyMs: [] as number[],
  /** The same batches, from their last reading to drawn: what the pipeline adds after the batch window. */
  liveLatencyLastMs: [] as number[],
  /** Each load of the patients view: the /latest request, then opening every row's batches in the workers. */
  patientsLoads: [] as { requestMs: number; openMs: number; patients: number; batches: number }[],
  /** Milestones of this page's start, ms from navigation: the app running, signed in (SIWE), the first view asked for. */
  boot: { scriptAt: 0, signedInAt: 0, routedAt: 0 },
  get bytesIn() { return api.bytesIn; },
  get workers() { return workers.length; },
  get chainCalls() { return proofs?.chainCalls ?? 0; },
};
(globalThis as unknown as { vitalgateStats: typeof stats }).vitalgateStats = stats;
function recordPatientsLoad(l: (typeof stats.patientsLoads)[number]): void {
  stats.patientsLoads.push(l);
  if (stats.patientsLoads.length > 100) stats.patientsLoads.shift();
}
function recordLatency(fromFirst: number, fromLast: number): void {
  stats.liveLatencyMs.push(fromFirst);
  stats.liveLatencyLastMs.push(fromLast);
  if (stats.liveLatencyMs.length > 10_000) { stats.liveLatencyMs.shift(); stats.liveLatencyLastMs.shift(); }
}

// ------------------------------------------------------------------------------------------ route

function route(): void {
  stopLive?.abort();
  clearInterval(refreshTimer);
  if (!api.address || !proofs) return showSignIn();
  $('#who').textContent = `Signed in as ${api.address}`;
  // #/patient/0x… or #/patient/0x…/history/SPAN_MS: a link can open a given history range.
  const m = /^#\/patient\/(0x[0-9a-fA-F]{40})(?:\/history\/(\d+))?$/.exec(location.hash);
  const span = m?.[2] ? SPANS.find((s) => s.ms === Number(m[2]))?.ms : undefined;
  const p = m ? showPatient(m[1]!, span) : location.hash === '#/access' ? showAccess() : showPatients();
  p.catch((e: Error) => {
    $('#main').append(el('p', { role: 'alert', class: 'error' }, e instanceof ApiError ? `${e.code}: ${e.message}` : e.message));
  });
}

window.addEventListener('hashchange', route);

async function boot(): Promise<void> {
  stats.boot.scriptAt = Math.round(performance.now());
  // The demo key comes in the fragment (#key=…), which the browser never sends to a server; it is
  // taken out of the address bar at once.
  const frag = new URLSearchParams(location.hash.slice(1));
  const demo = frag.get('key');
  if (demo) {
    history.replaceState(null, '', `${location.pathname}#/`);
    // The requests that need no key go out before the key is parsed (elliptic-curve work).
    api.prefetchNonce();
    configPrefetch = api.config<{ chain: ChainConfig | null }>();
    try {
      await signInWithText(new TextDecoder().decode(Uint8Array.from(atob(demo.replace(/-/g, '+').replace(/_/g, '/')), (c) => c.charCodeAt(0))));
    } catch (e) {
      return showSignIn(`the key in the link did not sign in: ${(e as Error).message}`);
    }
    stats.boot.signedInAt = Math.round(performance.now());
  }
  stats.boot.routedAt = Math.round(performance.now());
  route();
}

void boot();
