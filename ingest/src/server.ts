/**
 * The ingest HTTP service. It keeps no state of its own beyond object storage (and, later, the
 * catalog), so instances behind one address serve the same gateways; the replay cache is the one
 * thing they must share (Redis) when there are several.
 *
 * Bad input of any kind is a 4xx with {"error", "message"}; a fault of ours is a 500 that names
 * no detail. Bodies are capped (`maxBodyBytes`) before they are buffered.
 */
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance, type preHandlerAsyncHookHandler } from 'fastify';
import rateLimit from '@fastify/rate-limit';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { Catalog } from './catalog/catalog.js';
import { IngestError, refuse } from './errors.js';
import type { GatewayDirectory } from './gateway-directory.js';
import { gatewayAuth } from './plugins/gateway-auth.js';
import type { ReplayCache } from './replay-cache.js';
import { batchRoutes } from './routes/batches.js';
import { announcing, CatalogEvents } from './catalog/catalog-events.js';
import { catalogRoutes } from './routes/catalog.js';
import { envelopeRoutes } from './routes/envelopes.js';
import { clinicianRoutes } from './routes/clinician.js';
import type { AccessLog } from './clinician/access-log.js';
import type { ClinicianAccess } from './clinician/clinician-access.js';
import type { SessionKeys } from './clinician/session.js';
import { signinRoutes, type SiweOptions } from './clinician/siwe-signin.js';
import { recordRoutes } from './routes/records.js';
import { dashboardPlugin, type DashboardChain } from './plugins/dashboard.js';
import { accessLogRoutes } from './routes/access-log.js';
import { AnchorRecords } from './clinician/access-log-anchor.js';
import type { ObjectStore } from './storage/object-store.js';
import { CachedStore } from './storage/cached-store.js';
import type { TelemetryPoint } from './telemetry/influx-telemetry.js';

export interface IngestOptions {
  /** Where ciphertext lives. Recent small objects are also kept in memory (storage/cached-store.ts). */
  store: ObjectStore;
  directory: GatewayDirectory;
  replay: ReplayCache;
  /** Which batches exist, for time-range queries. Without one, only storage is served. */
  catalog?: Catalog;
  /** Requests each gateway may make per second (default 1000): a runaway gateway cannot starve the others. */
  ratePerGateway?: number;
  /** Shares the rate counters between instances (the replay cache's Redis, usually). */
  rateRedis?: Redis;
  /** Largest request body accepted (default 8 MiB: a batch closes at 5000 samples). */
  maxBodyBytes?: number;
  maxSkewSeconds?: number;
  logger?: Logger;
  now?: () => number;
  /** Serve HTTPS with this PEM certificate and key (plain HTTP without). */
  https?: { cert: Buffer; key: Buffer };
  /** Where one point per request goes (route, status, error code, latency, bytes); see INGEST_TELEMETRY_FIELDS. */
  telemetry?: TelemetrySink;
  /** Serve the built care-team dashboard from this directory at `/` (same origin as the API, strict CSP). */
  dashboardDir?: string;
  /** The chain endpoint the dashboard's browsers check proofs with (public: it is given to every browser). */
  dashboardChain?: DashboardChain;
  /** Serve care teams: SIWE sign-in, sessions and the clinician API, decided against the chain. */
  clinicians?: {
    sessions: SessionKeys;
    siwe: SiweOptions;
    access: ClinicianAccess;
    accessLog: AccessLog;
    /** Each denied request's clinician (for reporting denials to the Registry: DenialReporter.record). */
    onDenied?: (clinician: string) => void;
    /** How often a live feed polls the catalog (default 1 s); batches this instance takes reach it at once. */
    feedIntervalMs?: number;
    /** The anchor records of the access log (shared with the AccessLogAnchorer, when this instance anchors). */
    anchors?: AnchorRecords;
    /** The account whose AuditLog roots anchor the access log; null when none does. */
    auditor?: string | null;
  };
}

/** What ingest's per-request telemetry needs: InfluxTelemetry fits, and so does a test's array. */
export interface TelemetrySink {
  write(p: TelemetryPoint): boolean;
}

/**
 * Every field ingest writes to telemetry: counts, sizes and times, never anything from a body.
 * Tags: route (the pattern, never the URL), status, error (the refusal's code; empty on success), gateway.
 */
export const INGEST_TELEMETRY_FIELDS = ['requests', 'latency_ms', 'request_bytes'] as const;

export const DEFAULT_MAX_BODY_BYTES = 8 * 1024 * 1024;
/** A ward gateway with 100 devices sends a few hundred batches a second while draining a backlog. */
export const DEFAULT_RATE_PER_GATEWAY = 1000;

export async function buildIngest(o: IngestOptions): Promise<FastifyInstance> {
  const store = new CachedStore(o.store);
  // The logger is pino's; fastify's type for it is narrower than pino's own.
  const app = Fastify({
    ...(o.https && { https: { cert: o.https.cert, key: o.https.key, minVersion: 'TLSv1.2' as const } }),
    ...(o.logger && { loggerInstance: o.logger as unknown as FastifyBaseLogger }),
    bodyLimit: o.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES,
    // No per-request lines with the URL: its query names the patient. Routes log what matters.
    logController: new LogController({ disableRequestLogging: true }),
  });
  app.addContentTypeParser('application/octet-stream', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));
  // The error code of each refused request, for telemetry's rejections by reason.
  const refusedWith = new WeakMap<object, string>();
  app.setErrorHandler((e, req, reply) => {
    const err = e as Error & { statusCode?: number; code?: string };
    if (err instanceof IngestError) {
      refusedWith.set(req, err.code);
      return reply.code(err.statusCode).send({ error: err.code, message: err.message });
    }
    const status = err.statusCode;
    if (status !== undefined && status >= 400 && status < 500) {
      const code = status === 413 ? 'body-too-large' : status === 415 ? 'unsupported-media-type' : status === 429 ? 'rate-limited' : 'bad-request';
      refusedWith.set(req, code);
      return reply.code(status).send({ error: code, message: err.message });
    }
    req.log.error({ err: err.message }, 'ingest request failed');
    refusedWith.set(req, 'internal');
    return reply.code(500).send({ error: 'internal', message: 'ingest could not complete the request; it is safe to retry' });
  });
  app.setNotFoundHandler((req, reply) => {
    refusedWith.set(req, 'no-such-route');
    return reply.code(404).send({ error: 'no-such-route', message: `${req.method} ${req.url.split('?')[0]} is not an ingest endpoint` });
  });
  const authenticate = gatewayAuth({ directory: o.directory, replay: o.replay, ...(o.maxSkewSeconds !== undefined && { maxSkewSeconds: o.maxSkewSeconds }), ...(o.now && { now: o.now }) });
  await app.register(rateLimit, {
    global: false,
    ...(o.rateRedis && { redis: o.rateRedis, nameSpace: 'vitalgate:ingest:rate:' }),
  });
  // Counted per authenticated gateway, so it runs after authentication.
  const limit = app.rateLimit({
    max: o.ratePerGateway ?? DEFAULT_RATE_PER_GATEWAY,
    timeWindow: 1000,
    keyGenerator: (req) => req.gateway ?? req.ip,
    errorResponseBuilder: (_req, ctx) => refuse(429, 'rate-limited', `more than ${ctx.max} requests per second from this gateway; retry in ${ctx.after}`),
  });
  const auth = async (req: Parameters<preHandlerAsyncHookHandler>[0], reply: Parameters<preHandlerAsyncHookHandler>[1]): Promise<void> => {
    await authenticate(req);
    try {
      await limit.call(app, req, reply);
    } catch (e) {
      if (e instanceof IngestError) throw e;
      // The shared counters live in Redis; without them no instance can tell how fast a gateway
      // goes, so refuse (retryably) rather than let a runaway gateway through unmetered.
      throw refuse(503, 'rate-limit-unavailable', `the shared rate counters could not be reached: ${(e as Error).message.split('\n')[0]!.slice(0, 200)}; retry`);
    }
  };
  const telemetry = o.telemetry;
  if (telemetry) {
    app.addHook('onResponse', async (req, reply) => {
      // The route pattern (/v1/batches/:id), never the URL: its path and query name patients and batches.
      const route = req.routeOptions.url ?? 'unmatched';
      telemetry.write({
        measurement: 'ingest_request',
        tags: { route: `${req.method} ${route}`, status: String(reply.statusCode), error: refusedWith.get(req) ?? '', ...(req.gateway && { gateway: req.gateway }) },
        fields: { requests: 1, latency_ms: reply.elapsedTime, request_bytes: Number(req.headers['content-length'] ?? 0) || 0 },
      });
    });
  }
  const catalogEvents = new CatalogEvents();
  const announced = o.catalog && announcing(o.catalog, catalogEvents);
  await app.register(async (scope) => batchRoutes(scope, { store, directory: o.directory, auth, ...(announced && { catalog: announced }) }));
  await app.register(async (scope) => recordRoutes(scope, { store, directory: o.directory, auth, ...(o.catalog && { catalog: o.catalog }) }));
  await app.register(async (scope) => envelopeRoutes(scope, { store, directory: o.directory, auth }));
  const catalog = o.catalog;
  if (catalog) await app.register(async (scope) => catalogRoutes(scope, { catalog, directory: o.directory, auth }));
  const c = o.clinicians;
  if (c) {
    const siwe = c.siwe;
    // Getters, not a copy: a service on port 0 fills in its origin once it listens.
    await app.register(async (scope) => signinRoutes(scope, {
      get domain() { return siwe.domain; }, get origin() { return siwe.origin; }, chainId: siwe.chainId,
      sessions: c.sessions, registry: c.access, ...(o.now && { now: o.now }),
    }));
    await app.register(async (scope) => clinicianRoutes(scope, {
      store, ...(catalog && { catalog }), catalogEvents, access: c.access, accessLog: c.accessLog,
      requireClinician: c.sessions.requireClinician(() => siwe.origin), clinicianOf: (req) => req.clinician!, ...(c.onDenied && { onDenied: c.onDenied }),
      ...(c.feedIntervalMs !== undefined && { feedIntervalMs: c.feedIntervalMs }),
    }));
    const records = c.anchors ?? new AnchorRecords(store);
    await app.register(async (scope) => accessLogRoutes(scope, { store, directory: o.directory, auth, records, auditor: c.auditor ?? null }));
  }
  const dashboardDir = o.dashboardDir;
  if (dashboardDir) await app.register(async (scope) => dashboardPlugin(scope, { dir: dashboardDir, ...(o.dashboardChain && { chain: o.dashboardChain }) }));
  return app;
}
