/**
 * What `npm run bench` prints: the Output of a run (the --json line), and the same figures as lines
 * of text for a person.
 */
import type { BrokerComparison, BrokerRun } from '../scenarios/broker-compare.js';
import type { CareTeamResult } from '../scenarios/care-team.js';
import type { CloudResult } from '../scenarios/cloud-upload.js';
import type { DashboardResult } from '../scenarios/dashboard.js';
import { historyLines, type HistoryResult } from '../scenarios/dashboard-history.js';
import type { DecodeResult } from '../scenarios/decode.js';
import { fhirLines, type FhirExportBenchResult } from '../scenarios/fhir-export.js';
import type { BareSaturation, GatewaySaturation } from '../scenarios/saturation.js';
import type { SustainedResult } from '../scenarios/sustained.js';

export interface Output {
  devices: number;
  seconds: number;
  offeredMessagesPerSec: number | null;
  deliveredMessagesPerSec: number | null;
  samplesPerSec: number | null;
  p50LatencyMs: number | null;
  p99LatencyMs: number | null;
  rssMb: number | null;
  brokerRssMb: number | null;
  lost: number | null;
  duplicates: number | null;
  invented: number | null;
  failedPublishes: number | null;
  simLagMs: SustainedResult['simLagMs'] | null;
  preEnrolled: boolean;
  maxMessagesPerSec: number | null;
  ceilingMessagesPerSec: number | null;
  ratio: number | null;
  persistentSessionCeilingMessagesPerSec: number | null;
  ratioVsPersistentSession: number | null;
  /** (d)/(e): the gateway hosting the broker against a bare counter hosting it, at the same window. */
  ratioInProcess: number | null;
  saturationLost: number | null;
  decode: DecodeResult | null;
  broker: BrokerComparison | null;
  cloud: CloudResult | null;
  careTeams: CareTeamResult | null;
  dashboard: DashboardResult | null;
  dashboardHistory: HistoryResult | null;
  fhirExport: FhirExportBenchResult | null;
  targets: {
    sustainedNoLoss: boolean | null; p99WithinWindowPlus500: boolean | null; ratioAtLeast0_8: boolean | null;
    ratioAtLeast0_9: boolean | null; ratioInProcessAtLeast0_9: boolean | null;
    cloudDrainUnder30s: boolean | null; cloudUploadWithin25Pct: boolean | null; cloudNothingLost: boolean | null;
    careRevocationUnder2s: boolean | null;
    dashboardPatientsUnder1s: boolean | null; dashboardLiveP95: boolean | null;
    dashboardHistoryEcg1h: boolean | null; dashboardHistory7d: boolean | null; fhirExportUnder5s: boolean | null;
  };
  sustained: SustainedResult | null;
  saturation: {
    seconds: number; connections: number; window: number;
    withGateway: GatewaySaturation; bareSubscriber: BareSaturation; bareSubscriberPersistentSession: BareSaturation | null;
    /** (a') the gateway acknowledging on arrival, and (a)/(a'): the cost of acknowledging once durable. */
    withGatewayAckOnArrival: GatewaySaturation | null;
    ackCost: { durableReadingsPerSec: number; arrivalReadingsPerSec: number; ratio: number | null; durableP99Ms: number | null; arrivalP99Ms: number | null } | null;
    /** (d) the gateway hosting the broker (`--serve-mqtt`): one process, no second MQTT hop; at its own window. */
    inProcess: GatewaySaturation | null;
    windowInProcess: number;
    /** (e) a bare counter hosting the broker, acknowledging on arrival, at (d)'s window: (d)'s ceiling. */
    bareInProcess: BareSaturation | null;
  } | null;
  benchSeconds: number;
}

export function human(o: Output): string {
  const L: string[] = [];
  const yes = (b: boolean | null) => (b === null ? 'not measured' : b ? 'met' : 'MISSED');
  if (o.decode) {
    const d = o.decode;
    L.push(`Decoders (one core): UART ${d.uartFramesPerSec} frames/s (${d.uartMegabytesPerSec} MB/s), GATT ${d.gattNotificationsPerSec} notifications/s, payloads JSON ${d.jsonPayloadsPerSec}/s, CBOR ${d.cborPayloadsPerSec}/s (CBOR/JSON ${d.cborToJsonRatio})`);
    for (const x of d.seal) L.push(`Sealing (one core), ${x.batch} batch (${x.bytes} B sealed): noble ${x.noblePerSec}/s, OpenSSL (the gateway's) ${x.nativePerSec}/s: ${x.nativeOverNoble}×`);
  }
  if (o.sustained) {
    const s = o.sustained;
    L.push(`Sustained load: ${s.devices} devices × ${s.seconds} s (mixed profile, CBOR, QoS 1)`);
    L.push(`  publishing (until the last PUBACK) took ${s.publishingSeconds} s for ${s.seconds} s of readings`);
    L.push(`  offered ${s.offeredMessagesPerSec} msg/s, published ${s.publishedMessagesPerSec} msg/s, delivered (sealed) ${s.deliveredMessagesPerSec} msg/s, ${s.samplesPerSec} samples/s`);
    L.push(`  latency publish → durable: p50 ${s.p50LatencyMs} ms, p99 ${s.p99LatencyMs} ms, max ${s.maxLatencyMs} ms; readings published after ${s.steadyState.fromSecond} s: p50 ${s.steadyState.p50LatencyMs} ms, p99 ${s.steadyState.p99LatencyMs} ms`);
    L.push(`  simulator lag behind schedule: p50 ${s.simLagMs.p50} ms, p99 ${s.simLagMs.p99} ms, max ${s.simLagMs.max} ms`);
    L.push(`  acked ${s.acked}, found ${s.found}; lost ${s.lost}, duplicates ${s.duplicates}, invented ${s.invented}, failed publishes ${s.failedPublishes}, unreadable batches ${s.unreadableBatches}`);
    L.push(`  peak RSS: gateway ${s.rssMb} MiB (${s.rssAtEndMb} MiB at the end), broker ${s.brokerRssMb} MiB; CPU % of one core: ${Object.entries(s.cpuPercent).map(([k, v]) => `${k} ${v}`).join(', ')}`);
    L.push(`  patients ${s.preEnrolled ? 'enrolled before the run' : 'enrolled by the gateway during the run'} (${s.patientsEnrolledByGateway} by the gateway)`);
    L.push(`  gateway drained ${s.gatewayDrained ? 'fully' : 'NOT fully'} ${s.drainSeconds} s after publishing ended; stopped in ${s.gatewayExit.seconds} s (exit code ${s.gatewayExit.code})`);
  }
  if (o.saturation) {
    const { withGateway: g, bareSubscriber: b, bareSubscriberPersistentSession: c } = o.saturation;
    L.push(`Saturation: ${o.saturation.connections} connections × window ${o.saturation.window}, ${o.saturation.seconds} s`);
    L.push(`  (a) gateway: ${g.maxMessagesPerSec} readings/s sealed (${g.sealedReadings} in ${g.seconds} s), broker ingress ${g.ackedPerSec}/s, lost ${g.lost}, duplicates ${g.duplicates}, latency p50 ${g.p50LatencyMs} ms p99 ${g.p99LatencyMs} ms, gateway RSS ${g.rssMb} MiB`);
    L.push(`  (b) bare subscriber: ${b.ceilingMessagesPerSec} msg/s received (${b.received} in ${b.seconds} s), broker ingress ${b.ackedPerSec}/s, missing ${b.missing}`);
    const a2 = o.saturation.withGatewayAckOnArrival;
    if (a2) L.push(`  (a') gateway acknowledging on arrival: ${a2.maxMessagesPerSec} readings/s sealed, lost ${a2.lost}, latency p99 ${a2.p99LatencyMs} ms; acknowledge-once-durable costs: (a)/(a') ${o.saturation.ackCost?.ratio}`);
    if (c) L.push(`  (c) bare subscriber, persistent session: ${c.ceilingMessagesPerSec} msg/s received (${c.received} in ${c.seconds} s), broker ingress ${c.ackedPerSec}/s, missing ${c.missing}`);
    const d = o.saturation.inProcess;
    if (d) L.push(`  (d) gateway hosting the broker (--serve-mqtt), window ${o.saturation.windowInProcess}: ${d.maxMessagesPerSec} readings/s sealed (${d.sealedReadings} in ${d.seconds} s), ingress ${d.ackedPerSec}/s, lost ${d.lost}, duplicates ${d.duplicates}, latency p50 ${d.p50LatencyMs} ms p99 ${d.p99LatencyMs} ms, RSS ${d.rssMb} MiB`);
    const e = o.saturation.bareInProcess;
    if (e) L.push(`  (e) bare counter hosting the broker, window ${o.saturation.windowInProcess}: ${e.ceilingMessagesPerSec} msg/s received (${e.received} in ${e.seconds} s), missing ${e.missing}`);
    L.push(`  ratio (a)/(b) ${o.ratio}${c ? `; (a)/(c) ${o.ratioVsPersistentSession}` : ''}${d && e ? `; (d)/(e) ${o.ratioInProcess}` : ''}${d ? `; the edge box against a separate broker's bare subscriber, (d)/(b) ${Math.round((d.maxMessagesPerSec / Math.max(1, b.ceilingMessagesPerSec)) * 1000) / 1000}` : ''}`);
  }
  if (o.broker) {
    const b = o.broker;
    const line = (name: string, r: BrokerRun) => `  ${name}: ${r.receivedPerSec} msg/s received (${r.received}), ingress ${r.ackedPerSec}/s, missing ${r.missing}, broker CPU ${r.brokerCpuPercent ?? '?'} % of a core, RSS ${r.brokerRssMb ?? '?'} MiB`;
    L.push(`Broker: ${b.connections} connections × window ${b.window}, ${b.seconds} s each, one subscriber per-patient filters`);
    L.push(line('vitalgate, identity off', b.vitalgate.open));
    L.push(line('vitalgate, identity + ACLs', b.vitalgate.identity));
    if (b.mosquitto) {
      L.push(line(`mosquitto (${b.mosquitto.version}), anonymous`, b.mosquitto.open));
      L.push(line('mosquitto, password + ACL files', b.mosquitto.identity));
    } else L.push('  mosquitto: not installed (apt-get install mosquitto), not measured');
    L.push(`  identity on/off ratio ${b.identityRatio}${b.vsMosquitto ? `; vitalgate/mosquitto ${b.vsMosquitto.open} (open), ${b.vsMosquitto.identity} (identity)` : ''}`);
  }
  if (o.cloud) {
    const c = o.cloud;
    const met = (b: boolean) => (b ? 'met' : 'MISSED');
    const u = (r: CloudResult['upload']['toLocal']) => `${r.batchesPerSec} batches/s, ${r.megabytesPerSec} MB/s (${r.batches} batches, ${r.megabytes} MB in ${r.seconds} s)`;
    const cpu = (r: CloudResult['upload']['toLocal']) => `CPU ms/batch ${Object.entries(r.cpuMsPerBatch).map(([k, v]) => `${k} ${v}`).join(', ')}; machine ${r.cpuPercent.machineBusyPercentOfAllCores ?? '?'} % of all cores${r.warmup ? `; after a warm-up of ${r.warmup.batches} batches, ${r.warmup.seconds} s from the gateway's start` : ''}`;
    const d = c.drain;
    L.push(`Cloud: ${c.devices} devices (profile mixed), ingest down for ${c.outageSeconds} s`);
    L.push(`  spool: ${d.batchesDuringOutage} batches (${d.megabytesDuringOutage} MB) waited; drained in ${d.drainSeconds} s = ${d.waitSeconds} s until the gateway's next try (backoff) + ${d.uploadSeconds} s uploading (${d.uploadBatchesPerSec} batches/s while the devices kept publishing); target < 30 s: ${met(c.targets.drainUnder30s)}`);
    L.push(`  reconciled: ${d.readingsPublished} readings published (${d.failedPublishes} failed), ${d.indexed} batches indexed, ${d.confirmed} confirmed, ${d.stored} stored; missing ${d.missing}, duplicated ${d.duplicated}, extra ${d.extra}: ${c.targets.nothingLost ? 'every batch exactly once' : 'MISMATCH'}`);
    L.push(`  upload of ${c.upload.sampleBatches} sealed batches (mean ${c.upload.meanBatchBytes} B), gateway ${c.upload.concurrency} requests at a time (bundles of ≤ 64); timed after its warm-up:`);
    L.push(`    gateway → ingest → local storage  ${u(c.upload.toLocal)}; ${cpu(c.upload.toLocal)}`);
    L.push(`    gateway → ingest → S3 (s3rver)    ${u(c.upload.toS3)}; ${cpu(c.upload.toS3)}`);
    L.push(`    bare S3 PUT, ${c.upload.bareS3.concurrency} at a time         ${u(c.upload.bareS3)}; ${cpu(c.upload.bareS3)}; runs before and after ingest: ${c.upload.bareS3.runs.join(' and ')} batches/s`);
    L.push(`    bare S3 PUT, ${c.upload.bareS3AtIngestFanOut.concurrency} at a time       ${u(c.upload.bareS3AtIngestFanOut)}; ${cpu(c.upload.bareS3AtIngestFanOut)}`);
    L.push(`    ingest/bare ${c.upload.ratioS3VsBare} (against ${c.upload.bareS3AtIngestFanOut.concurrency} at a time: ${c.upload.ratioS3VsBareAtIngestFanOut}); target ≥ 0.8: ${met(c.targets.ingestWithin25PercentOfBareS3)}`);
    const cat = (r: CloudResult['catalog']['embedded']) => `${r.sequentialPerSec} one at a time, ${r.concurrentPerSec} 16 at a time, ${r.bundlesPerSec} in bundles of 64`;
    L.push(`  catalog writes/s (${c.catalog.batches} rows each way): embedded ${cat(c.catalog.embedded)}; InfluxDB ${c.catalog.influx ? cat(c.catalog.influx) : 'NOT MEASURED (influxd not installed)'}`);
  }
  if (o.careTeams) {
    const c = o.careTeams;
    const e = c.envelopes;
    const lat = (f: CareTeamResult['api']['cold']) => `p50 ${f.p50Ms} ms, p99 ${f.p99Ms} ms, mean ${f.meanMs} ms (${f.perSecond}/s over ${f.requests})`;
    L.push('Care teams:');
    const day = (d: CareTeamResult['envelopes']['day']['hourly']) => `${d.envelopes} envelopes, ~${d.cpuMs} ms of CPU, ${Math.round(d.bytes / 1024)} KiB`;
    L.push(`  key envelope (one epoch, one grantee, ${e.runs} runs): seal ${e.sealMicros} µs (${e.sealsPerSecond}/s), open ${e.openMicros} µs (${e.opensPerSecond}/s), ${e.bytes} B`);
    L.push(`  key envelopes sharing one ephemeral key (the gateway's, a day per clinician): seal ${e.shared.sealMicros} µs, open ${e.shared.openMicros} µs (${e.shared.ecdhs} ECDH for ${e.runs}): opening ${e.shared.openSpeedup}× the fresh-E rate`);
    L.push(`  a day for ${e.day.hourly.grantees} grantees × ${e.day.hourly.streams} streams, computed from the seal time: ${e.day.atDefaultPeriod.epochs} epochs (the default period) ${day(e.day.atDefaultPeriod)}; ${e.day.hourly.epochs} hourly epochs ${day(e.day.hourly)}`);
    L.push(`  catalog query (${c.api.entriesPerQuery} entries) + batch fetch, sequential (${c.api.batches} batches stored): cold (chain asked each request) ${lat(c.api.cold)}; cached ${lat(c.api.cached)}; cold/cached p50 ${c.api.coldOverCached}`);
    L.push(`  revocation on chain → refused at the API (chain polled every ${c.revocation.pollMs} ms): ${c.revocation.runs.join(', ')} ms (median ${c.revocation.medianMs}, max ${c.revocation.maxMs}); target ≤ 2000 ms: ${c.targets.revocationUnder2s ? 'met' : 'MISSED'}`);
  }
  if (o.dashboard) {
    const d = o.dashboard;
    L.push(`Dashboard (Chromium, ${d.patients} patients from ${d.devices} devices):`);
    const v = d.patientsView;
    L.push(`  patients view, navigation → every row's values decrypted: ${v.ms} ms (median of ${v.loads.length} first visits, each in a fresh context's window left idle first: ${v.loads.map((l) => l.ms).join(', ')} ms), ${Math.round(v.bytes / 1024)} KiB over ${v.requests} responses (clinician API: ${Math.round(v.apiBytes / 1024)} KiB over ${v.apiRequests}); target < 1000 ms: ${d.targets.patientsUnder1s ? 'met' : 'MISSED'}`);
    if (v.newWindow) L.push(`    followed in a window opened at the same moment (Chromium building its own UI alongside; not the target's figure): ${v.newWindow.ms} ms${v.newWindow.page?.boot ? `, app running at ${v.newWindow.page.boot.scriptAt}` : ''}`);
    if (v.page?.boot) L.push(`    the page's start (ms from navigation): app running at ${v.page.boot.scriptAt}, signed in (SIWE) at ${v.page.boot.signedInAt}, patients view asked for at ${v.page.boot.routedAt}`);
    if (v.page) L.push(`    of which, as the page saw its first load: GET /v1/clinician/latest ${v.page.requestMs} ms, then opening ${v.page.batches} batches (their envelopes share an ephemeral key per gateway and day) in ${v.page.workers} worker(s) ${v.page.openMs} ms`);
    if (v.serverTiming) L.push(`    GET /v1/clinician/latest in ingest (Server-Timing, ms): ${v.serverTiming.split(', ').map((t) => t.replace(';dur=', ' ')).join(', ')}`);
    L.push(`  live latency (batch's first reading → drawn) over ${d.live.batches} batches: p50 ${d.live.p50Ms} ms, p95 ${d.live.p95Ms} ms, max ${d.live.maxMs} ms (from its last reading: p50 ${d.live.fromLastP50Ms} ms, p95 ${d.live.fromLastP95Ms} ms), ${Math.round(d.live.bytes / 1024)} KiB fetched; bound ${d.live.boundMs} ms: ${d.targets.liveP95WithinBound ? 'met' : 'MISSED'}`);
    L.push('  one hour of ECG, seven days of history: see "Dashboard history" (--only-history)');
  }
  if (o.dashboardHistory) L.push(...historyLines(o.dashboardHistory));
  if (o.fhirExport) L.push(...fhirLines(o.fhirExport));
  L.push(`Targets: no loss ${yes(o.targets.sustainedNoLoss)}; p99 ≤ 2500 ms ${yes(o.targets.p99WithinWindowPlus500)}; ratio ≥ 0.8 ${yes(o.targets.ratioAtLeast0_8)}; ratio ≥ 0.9 ${yes(o.targets.ratioAtLeast0_9)}; in-process ratio ≥ 0.9 ${yes(o.targets.ratioInProcessAtLeast0_9)}; cloud drain < 30 s ${yes(o.targets.cloudDrainUnder30s)}; cloud upload ≥ 0.8 × bare S3 ${yes(o.targets.cloudUploadWithin25Pct)}; cloud nothing lost ${yes(o.targets.cloudNothingLost)}; revocation ≤ 2 s ${yes(o.targets.careRevocationUnder2s)}; dashboard patients < 1 s ${yes(o.targets.dashboardPatientsUnder1s)}; live p95 ≤ 3 s ${yes(o.targets.dashboardLiveP95)}; history 1 h ECG < 1.5 s ${yes(o.targets.dashboardHistoryEcg1h)}; history 7 d < 1.5 s ${yes(o.targets.dashboardHistory7d)}`);
  return L.join('\n') + '\n';
}
