/**
 * `vitalgate fetch`: a clinician reads a patient's vital signs the way the dashboard will, without a
 * browser: signs in to ingest (Sign-In with Ethereum, with the account key of its key file), asks
 * which streams and windows the chain grants it, fetches those batches and its key envelopes, and
 * opens both on this machine. Ingest only ever hands over ciphertext.
 *
 * It asks only for what the chain grants: a request outside the grant is denied, logged and counted
 * toward a ban, so a stream asked for but not granted is named and skipped, not requested.
 */
import type { Command } from 'commander';
import { getAddress, isAddress, Wallet } from 'ethers';
import { MAX_DATA_TS } from '@vitalgate/contracts';
import { ApiError, ClinicianClient, openWithEnvelopes, type PatientAccess } from '@vitalgate/ingest';
import { isStreamName, isWaveformBody, lastSampleTs, type ReadingBody, type StreamName } from '@vitalgate/protocol';
import { readClinicianKeyFile } from '../clinician-key-file.js';
import { parseDataTime } from './consent/options.js';

interface StreamStat { batches: number; readings: number; trimmed: number; first?: number; last?: number }
interface FetchOpts { ingest?: string; key?: string; patient?: string; stream?: string; from?: string; to?: string; json?: boolean }

/** Catalog queries select by first reading; a batch that began this long before the window can still reach into it. */
const BATCH_LOOKBACK_MS = 10 * 60_000;

export interface FetchedReading { stream: StreamName; deviceId: string; seq: number; ts: number; rate?: number; samples?: number[]; values?: Record<string, number> }

function flat(stream: StreamName, deviceId: string, b: ReadingBody): FetchedReading {
  return isWaveformBody(b)
    ? { stream, deviceId, seq: b.seq, ts: b.ts, rate: b.rate, samples: b.samples }
    : { stream, deviceId, seq: b.seq, ts: b.ts, values: b.values as Record<string, number> };
}

/** The time spans through which `stream` is readable now: the grant windows that cover it (break-glass: everything). */
function spansOf(p: PatientAccess, stream: StreamName, nowMs: number): { from: number; to: number }[] {
  return p.access
    .filter((a) => a.streams.includes(stream) && a.expiresAt * 1000 > nowMs)
    .map((a) => (a.via === 'break-glass' ? { from: 0, to: Number.MAX_SAFE_INTEGER } : { from: a.from, to: a.until }));
}

export function registerFetch(program: Command): void {
  program
    .command('fetch')
    .description('as a clinician: sign in to ingest, fetch a patient\'s granted streams, and decrypt them on this machine')
    .option('--ingest <url>', 'the ingest service (required), e.g. https://ingest.example.org or the URL `vitalgate start` prints')
    .option('--key <file>', 'the clinician key file (required; made by `vitalgate clinicians add --generate FILE`): signs in and opens envelopes')
    .option('--patient <address>', 'the patient\'s chain account (required; 0x…), as `vitalgate consent list` or the clinician API shows it')
    .option('--stream <list>', 'comma-separated streams to fetch (default: every stream granted)')
    .option('--from <time>', 'first reading time: ISO 8601 or ms since the epoch (default: the start of the grant)')
    .option('--to <time>', 'last reading time, inclusive (default: the end of the grant)')
    .option('--json', 'print {clinician, patient, streams, batches, readings: [{stream, deviceId, seq, ts, values | rate+samples}], failures} as one JSON object')
    .addHelpText('after', `
Only what the chain grants right now is requested: asking for more would be denied, logged and
counted toward a ban. Readings are trimmed to the granted window and to --from/--to; the epoch keys
inside envelopes are per (patient, stream, epoch), so a batch that straddles the window's edge is
fetched whole and its outside readings dropped here.
Exit status: 0 when every batch opened; 1 when any could not (each named on stderr, or in "failures").

Example:
  vitalgate fetch --ingest http://127.0.0.1:8443 --key dr-lee.key --patient 0x70997970C51812dc3A010C7d01b50e0d17dc79C8 --stream ecg,hr --json`)
    .action(async (o: FetchOpts) => {
      if (!o.ingest) throw new Error('--ingest <url> is required: the ingest service to sign in to');
      if (!o.key) throw new Error('--key <file> is required: the clinician key file (vitalgate clinicians add --generate FILE makes one)');
      if (!o.patient || !isAddress(o.patient)) throw new Error('--patient <address> is required: the patient\'s 0x chain account');
      let base: URL;
      try {
        base = new URL(o.ingest);
      } catch {
        throw new Error(`--ingest ${o.ingest}: not a URL`);
      }
      const patient = getAddress(o.patient);
      const asked = o.stream?.split(',').map((s) => s.trim()).filter(Boolean);
      for (const s of asked ?? []) if (!isStreamName(s)) throw new Error(`--stream: unknown stream ${JSON.stringify(s)}`);
      const from = o.from === undefined ? 0 : parseDataTime('--from', o.from);
      const to = o.to === undefined ? Number.MAX_SAFE_INTEGER : parseDataTime('--to', o.to);
      if (to < from) throw new Error('--to is before --from');
      const keys = readClinicianKeyFile(o.key);
      const client = new ClinicianClient(base.toString(), new Wallet(keys.accountKey));
      const say = (m: string) => process.stderr.write(m + '\n');

      try {
        const session = await client.signIn();
        say(`signed in to ${base.origin} as ${session.address}`);
        const access = (await client.patients()).find((p) => p.patientAccount === patient);
        if (!access) throw new Error(`the chain gives ${keys.address} no access to patient ${patient} now (no grant, care team or break-glass)`);
        const now = Date.now();
        const granted = new Set(access.access.filter((a) => a.expiresAt * 1000 > now).flatMap((a) => a.streams));
        for (const a of access.access) say(`  ${a.via} (${a.grantee}): ${a.streams.join(', ')}${a.via === 'break-glass' || (a.from <= 0 && a.until >= MAX_DATA_TS) ? ', readings of any time' : `, readings ${iso(a.from)} .. ${iso(a.until)}`}, until ${iso(a.expiresAt * 1000)}`);
        const streams = (asked ?? [...granted]).filter((s): s is StreamName => isStreamName(s));
        const notGranted = streams.filter((s) => !granted.has(s));
        if (notGranted.length) say(`not granted, not requested: ${notGranted.join(', ')}`);
        const failures: { id: string; stream: StreamName; reason: string }[] = [];
        const readings: FetchedReading[] = [];
        const perStream: Record<string, StreamStat> = {};
        let batches = 0;
        let lastProgress = Date.now();
        for (const stream of streams.filter((s) => granted.has(s))) {
          const stat: StreamStat = { batches: 0, readings: 0, trimmed: 0 };
          perStream[stream] = stat;
          const spans = spansOf(access, stream, now)
            .map((s) => ({ from: Math.max(s.from, from), to: Math.min(s.to, to) }))
            .filter((s) => s.from <= s.to);
          if (!spans.length) continue;
          const inSpan = (b: ReadingBody) => spans.some((s) => b.ts >= s.from && lastSampleTs(stream, b) <= s.to);
          const envelopes = await client.envelopes(patient, stream);
          const seen = new Set<string>();
          for (const span of spans) {
            const qFrom = Math.max(0, span.from - BATCH_LOOKBACK_MS);
            const qTo = span.to === Number.MAX_SAFE_INTEGER ? span.to : span.to + 1;
            for await (const e of client.catalog(patient, qFrom, qTo, stream)) {
              if (seen.has(e.id) || e.lastTs < span.from || e.firstTs > span.to) continue;
              seen.add(e.id);
              const opened = openWithEnvelopes(keys.encryptionKey, envelopes, e.id, await client.batch(patient, e.id));
              batches++;
              stat.batches++;
              if (!opened.ok) {
                failures.push({ id: e.id, stream, reason: opened.reason });
                say(`  batch ${e.id} (${stream}): ${opened.reason}`);
                continue;
              }
              for (const b of opened.value.readings) {
                if (!inSpan(b)) {
                  stat.trimmed++;
                  continue;
                }
                stat.readings++;
                stat.first = Math.min(stat.first ?? b.ts, b.ts);
                stat.last = Math.max(stat.last ?? b.ts, b.ts);
                readings.push(flat(stream, opened.value.deviceId, b));
              }
              if (Date.now() - lastProgress > 2000) {
                lastProgress = Date.now();
                say(`  ${batches} batches opened, ${readings.length} readings`);
              }
            }
          }
        }
        await client.signOut().catch(() => undefined);
        if (o.json) {
          process.stdout.write(JSON.stringify({ clinician: keys.address, patient, streams: perStream, batches, readings, failures }) + '\n');
        } else {
          for (const [s, st] of Object.entries(perStream)) {
            process.stdout.write(`${s.padEnd(5)} ${String(st.batches).padStart(6)} batches ${String(st.readings).padStart(8)} readings${st.first !== undefined ? `  ${iso(st.first)} .. ${iso(st.last!)}` : ''}${st.trimmed ? `  (${st.trimmed} outside the window dropped)` : ''}\n`);
          }
          process.stdout.write(`${batches} batches, ${readings.length} readings decrypted on this machine${failures.length ? `; ${failures.length} batches could not be opened (above)` : ''}. Add --json for the readings.\n`);
        }
        if (failures.length) process.exitCode = 1;
      } catch (e) {
        if (e instanceof ApiError) throw new Error(e.message);
        throw e;
      }
    });
}

function iso(ms: number): string {
  if (ms >= MAX_DATA_TS) return 'no end';
  return new Date(ms).toISOString();
}
