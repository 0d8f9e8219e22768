/**
 * What a running gateway reports about itself every few seconds: a log line, and with --influx the
 * same figures as a telemetry point, for dashboards and alerts on a fleet of gateways.
 *
 * Only counts, sizes and ages leave the box this way. No reading, no patient, no device id: the
 * telemetry allowlist below is the whole vocabulary, and InfluxTelemetry refuses anything else.
 */
import type pino from 'pino';
import type { Gateway } from '@vitalgate/edge-gateway';
import type { TelemetrySink } from '@vitalgate/ingest';

export const GATEWAY_TELEMETRY_FIELDS = [
  'readings_per_second', 'readings_accepted', 'batches_sealed', 'unanchored_batches',
  'spool_waiting', 'spool_waiting_bytes', 'spool_records_waiting', 'spool_oldest_waiting_ms', 'spool_over_quota',
  'uploads_per_second', 'uploaded_bytes', 'upload_latency_ms', 'rejected', 'ingest_refused',
] as const;

type Field = typeof GATEWAY_TELEMETRY_FIELDS[number];

export function startStatusReports(gw: Gateway, to: { log?: pino.Logger; telemetry?: TelemetrySink; gateway: string }, everyMs: number): NodeJS.Timeout {
  const first = gw.metrics();
  let last = { at: Date.now(), readings: first.readingsAccepted, uploaded: first.upload?.uploaded ?? 0, latencySum: first.upload?.uploadLatencyMsSum ?? 0 };
  return setInterval(() => {
    const m = gw.metrics();
    const now = Date.now();
    const s = (now - last.at) / 1000;
    const u = m.upload;
    const readingsPerSecond = Math.round((m.readingsAccepted - last.readings) / s);
    const uploadedNow = u ? u.uploaded - last.uploaded : 0;
    const uploadsPerSecond = Math.round((uploadedNow / s) * 10) / 10;
    // Mean over this period of (confirmed by ingest − durable here); absent when nothing was uploaded.
    const uploadLatencyMs = u && uploadedNow > 0 ? Math.round((u.uploadLatencyMsSum - last.latencySum) / uploadedNow) : undefined;
    last = { at: now, readings: m.readingsAccepted, uploaded: u?.uploaded ?? 0, latencySum: u?.uploadLatencyMsSum ?? 0 };
    to.log?.info({
      readingsPerSecond,
      batchesSealed: m.batchesSealed,
      // Summaries sealed, and the minutes and hours still open (closed a little after they end).
      summariesSealed: m.summariesSealed,
      ...(m.summariesOpen && { summariesOpen: m.summariesOpen }),
      ...(m.lateReadings && { lateReadings: m.lateReadings }),
      ...(m.anchoring && { unanchoredBatches: m.anchoring.unanchoredBatches }),
      ...(m.rejected && { rejectedByReason: m.rejectedByReason }),
      // Key envelopes for care teams: how many issued, how many the chain has yet to decide.
      ...(m.envelopes && { envelopes: m.envelopes }),
      ...(u && {
        spool: { waiting: u.waiting, waitingBytes: u.waitingBytes, recordsWaiting: u.recordsWaiting, oldestWaitingMs: u.oldestWaitingMs, overQuota: u.overQuota },
        uploadsPerSecond,
        ...(uploadLatencyMs !== undefined && { uploadLatencyMs }),
        ...(Object.keys(u.refused).length && { ingestRefused: u.refused }),
        ...(u.lastError && { uploadError: u.lastError }),
      }),
    }, u?.overQuota ? 'status: UPLOAD SPOOL OVER QUOTA' : 'status');
    if (to.telemetry) {
      const fields: Partial<Record<Field, number>> = {
        readings_per_second: readingsPerSecond,
        readings_accepted: m.readingsAccepted,
        batches_sealed: m.batchesSealed,
        rejected: m.rejected,
        ...(m.anchoring && { unanchored_batches: m.anchoring.unanchoredBatches }),
        ...(u && {
          spool_waiting: u.waiting, spool_waiting_bytes: u.waitingBytes, spool_records_waiting: u.recordsWaiting,
          spool_oldest_waiting_ms: u.oldestWaitingMs, spool_over_quota: u.overQuota ? 1 : 0,
          uploads_per_second: uploadsPerSecond, uploaded_bytes: u.uploadedBytes,
          ...(uploadLatencyMs !== undefined && { upload_latency_ms: uploadLatencyMs }),
        }),
      };
      const time = new Date(now);
      to.telemetry.write({ measurement: 'gateway_status', tags: { gateway: to.gateway }, fields, time });
      // Cumulative counts per reason: the reasons are classes ("unknown stream"), never a reading.
      for (const [reason, n] of Object.entries(m.rejectedByReason)) {
        to.telemetry.write({ measurement: 'gateway_rejections', tags: { gateway: to.gateway, reason }, fields: { rejected: n }, time });
      }
      for (const [code, n] of Object.entries(u?.refused ?? {})) {
        to.telemetry.write({ measurement: 'gateway_upload_refusals', tags: { gateway: to.gateway, code }, fields: { ingest_refused: n }, time });
      }
    }
  }, everyMs).unref();
}
