/**
 * A real S3-compatible server (s3rver) on loopback for tests, in a child process so fault tests can
 * stop it, SIGKILL it and restart it on the same port and directory with its objects intact.
 *
 * This file is also the child's entry point (see the bottom), which keeps the helper one module.
 *
 * s3rver quirks that matter here:
 * - It does not check SigV4 signatures: the access key id must be "S3RVER", any secret passes.
 *   Tests must not rely on it for authentication.
 * - It ignores `If-None-Match: *` on PUT and overwrites. With `conditionalWrites`, a middleware
 *   in front of it does what AWS S3 does: 412 PreconditionFailed when the key exists, checked and
 *   written under one lock per key, so racing writers get exactly one success.
 * - It ignores Content-MD5 and x-amz-checksum-*: it cannot show that a damaged body is refused.
 * - ListObjectsV2 continuation tokens are DES-encrypted, which OpenSSL 3 only has in its legacy
 *   provider; without it every truncated listing is a 500. The child runs with
 *   --openssl-legacy-provider and refuses to start if DES is still unavailable.
 * - Listings come in filesystem-walk order, which is key order only when no key is a proper prefix
 *   of another in the same folder (e.g. fixed-width ids; "a" and "a-b" come out reversed).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createCipheriv } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { exited, killChild, killOnExit, stopChild, type RestartableServer } from './child-process.js';
import { freePort } from './ports.js';

export interface S3ServerOptions {
  /** Buckets that exist from the start (kept in the directory across restarts). */
  buckets?: string[];
  /** Honour `If-None-Match: *` on PUT as AWS S3 does (412 when the key exists). Default false: plain s3rver. */
  conditionalWrites?: boolean;
  /** How long start and restart wait for the server to listen (default 15 s). */
  readyTimeoutMs?: number;
}

/** stop: SIGTERM (finishes requests in flight), SIGKILL after 5 s; kill may leave an object being written truncated. */
export interface S3Server extends RestartableServer {
  /** http://127.0.0.1:PORT; use path-style addressing. */
  endpoint: string;
  /** Where the buckets and objects live. */
  dir: string;
  /** What the server accepts: the access key id must be "S3RVER"; the secret is never checked. */
  credentials: { accessKeyId: string; secretAccessKey: string };
}

interface ChildConfig { dir: string; port: number; buckets: string[]; conditionalWrites: boolean }

const SELF = fileURLToPath(import.meta.url);

/** Starts s3rver on 127.0.0.1 (a free port) with its data under `dir`; resolves once it listens. */
export async function startS3Server(dir: string, opts: S3ServerOptions = {}): Promise<S3Server> {
  const { buckets = [], conditionalWrites = false, readyTimeoutMs = 15_000 } = opts;
  await mkdir(dir, { recursive: true });
  const port = await freePort();
  const endpoint = `http://127.0.0.1:${port}`;
  const config: ChildConfig = { dir, port, buckets, conditionalWrites };
  let child: ChildProcess | undefined;

  const launch = async (): Promise<void> => {
    // stdin is a pipe the child watches: if this process dies, the child ends too.
    const p = spawn(process.execPath, ['--openssl-legacy-provider', SELF, JSON.stringify(config)], { stdio: ['pipe', 'pipe', 'pipe'] });
    child = p;
    killOnExit(p);
    let tail = '';
    p.stderr!.setEncoding('utf8').on('data', (d: string) => { tail = (tail + d).slice(-4000); });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        p.kill('SIGKILL');
        reject(new Error(`s3rver did not listen on ${endpoint} within ${readyTimeoutMs} ms:\n${tail}`));
      }, readyTimeoutMs);
      let out = '';
      p.stdout!.setEncoding('utf8').on('data', (d: string) => {
        out += d;
        if (!out.includes('\n')) return;
        clearTimeout(timer);
        p.stdout!.removeAllListeners('data');
        p.stdout!.resume();
        resolve();
      });
      p.once('error', (e) => { clearTimeout(timer); reject(new Error(`could not start s3rver: ${e.message}`)); });
      p.once('exit', (code, signal) => { clearTimeout(timer); reject(new Error(`s3rver exited (${signal ?? code}) before listening on ${endpoint}:\n${tail}`)); });
    });
  };

  const stop = (): Promise<void> => stopChild(child, 5_000);
  const kill = (): Promise<void> => killChild(child);

  await launch();
  return {
    endpoint,
    port,
    dir,
    credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
    stop,
    kill,
    restart: async () => {
      await stop();
      await launch();
    },
  };
}

// ---- the child process ----

/** The parts of s3rver (CommonJS, untyped) the child uses. */
interface S3rverApp {
  middleware: Array<(ctx: KoaContext, next: () => Promise<void>) => Promise<void>>;
  store: { existsObject(bucket: string, key: string): Promise<boolean> };
  httpServer?: { closeIdleConnections(): void };
  run(): Promise<unknown>;
  close(): Promise<void>;
}
interface KoaContext { method: string; path: string; query: Record<string, unknown>; get(h: string): string; req: NodeJS.ReadableStream }
type S3ErrorCtor = new (code: string, message: string, detail?: Record<string, string>) => Error;

/** `If-None-Match: *` on PUT Object as AWS S3 does it, checked and written under one lock per key. */
function conditionalPut(app: S3rverApp, S3Error: S3ErrorCtor) {
  const locks = new Map<string, Promise<void>>();
  return async (ctx: KoaContext, next: () => Promise<void>): Promise<void> => {
    const m = /^\/([^/]+)\/(.+)$/.exec(ctx.path);
    if (ctx.method !== 'PUT' || ctx.get('if-none-match') !== '*' || !m || ctx.get('x-amz-copy-source') || 'uploadId' in ctx.query || 'partNumber' in ctx.query) return next();
    const [bucket, key] = [decodeURIComponent(m[1]!), decodeURIComponent(m[2]!)];
    const id = `${bucket}/${key}`;
    const run = (locks.get(id) ?? Promise.resolve()).then(async () => {
      if (await app.store.existsObject(bucket, key)) {
        // Read the body first, so the client is not cut off mid-upload by an early answer.
        await new Promise<void>((r) => { ctx.req.on('end', () => r()); ctx.req.resume(); });
        throw new S3Error('PreconditionFailed', 'At least one of the pre-conditions you specified did not hold', { Condition: 'If-None-Match' });
      }
      await next();
    });
    const tail = run.catch(() => undefined);
    locks.set(id, tail);
    try {
      await run;
    } finally {
      if (locks.get(id) === tail) locks.delete(id);
    }
  };
}

async function serve(cfg: ChildConfig): Promise<void> {
  try {
    createCipheriv('des', Buffer.alloc(8), Buffer.alloc(8));
  } catch {
    process.stderr.write('s3rver needs DES for ListObjectsV2 continuation tokens, and this Node/OpenSSL has no legacy provider (--openssl-legacy-provider)\n');
    process.exit(2);
  }
  const require = createRequire(import.meta.url);
  const S3rver = require('s3rver') as new (o: Record<string, unknown>) => S3rverApp;
  const S3Error = require('s3rver/lib/models/error') as S3ErrorCtor;
  const app = new S3rver({
    address: '127.0.0.1', port: cfg.port, directory: cfg.dir, silent: true, vhostBuckets: false,
    configureBuckets: cfg.buckets.map((name) => ({ name, configs: [] })),
  });
  // Before the router (the last middleware), which is where s3rver handles the request.
  if (cfg.conditionalWrites) app.middleware.splice(app.middleware.length - 1, 0, conditionalPut(app, S3Error));
  await app.run();
  const shutdown = (): void => {
    void app.close().finally(() => process.exit(0));
    app.httpServer?.closeIdleConnections();
  };
  process.once('SIGTERM', shutdown);
  process.stdin.on('end', () => process.exit(0)).resume();
  process.stdout.write(`${JSON.stringify({ event: 'ready', port: cfg.port })}\n`);
}

if (process.argv[1] === SELF && process.argv[2]) {
  serve(JSON.parse(process.argv[2]) as ChildConfig).catch((e: unknown) => {
    process.stderr.write(`s3rver: ${(e as Error).stack ?? String(e)}\n`);
    process.exit(1);
  });
}
