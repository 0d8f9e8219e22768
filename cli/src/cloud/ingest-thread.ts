/**
 * The embedded ingest of `run` and `start` on a worker thread of its own: the cloud keeps its own
 * event loop, as it would on its own machine, instead of sharing one with the broker, the gateway
 * and a hundred simulated devices (a care team's request waited behind them: /latest answered in
 * 0.3–1 s for 80 ms of its own work). The gateway reaches it over HTTP either way.
 *
 *   main → worker: workerData {dataDir, chain: IngestChain, logLevel}; then "stop"
 *   worker → main: {type: "up", url} | {type: "failed", message} | {type: "stopped"}
 */
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import pino from 'pino';
import { startEmbeddedIngest, type EmbeddedIngest, type IngestChain } from './embedded-ingest.js';

interface Start { dataDir: string; chain: IngestChain; logLevel: string }
type Answer = { type: 'up'; url: string } | { type: 'failed'; message: string } | { type: 'stopped' };

/** Starts ingest on a worker thread; resolves once it listens (its URL), rejects with its start error. */
export function startIngestThread(dataDir: string, chain: IngestChain, logLevel = 'warn'): Promise<EmbeddedIngest> {
  const start: Start = { dataDir, chain: { url: chain.url, deployment: chain.deployment, auditorKey: chain.auditorKey }, logLevel };
  const worker = new Worker(new URL(import.meta.url), { workerData: start });
  return new Promise((resolve, reject) => {
    const early = (e: Error | number) => reject(typeof e === 'number' ? new Error(`the ingest thread exited (${e}) before it listened`) : e);
    worker.once('error', early);
    worker.once('exit', early);
    worker.once('message', (m: Answer) => {
      worker.off('error', early);
      worker.off('exit', early);
      if (m.type !== 'up') {
        void worker.terminate();
        return reject(new Error(m.type === 'failed' ? m.message : 'the ingest thread did not start'));
      }
      let stopping: Promise<void> | undefined;
      resolve({
        url: m.url,
        stop: () => (stopping ??= new Promise<void>((done) => {
          // Stopped in order (server, care-team service, catalog), then the thread ends.
          worker.once('message', () => void worker.terminate().then(() => done()));
          worker.once('exit', () => done());
          worker.postMessage('stop');
        })),
      });
    });
  });
}

if (!isMainThread && parentPort && (workerData as Partial<Start> | null)?.dataDir) {
  const port = parentPort;
  const o = workerData as Start;
  const logger = pino({ level: o.logLevel }, pino.destination(2)).child({ name: 'ingest' });
  try {
    const ingest = await startEmbeddedIngest(o.dataDir, o.chain, logger);
    port.on('message', (m) => {
      if (m !== 'stop') return;
      void ingest.stop().catch((e: Error) => logger.error({ err: e.message }, 'ingest did not stop cleanly')).finally(() => port.postMessage({ type: 'stopped' } satisfies Answer));
    });
    port.postMessage({ type: 'up', url: ingest.url } satisfies Answer);
  } catch (e) {
    port.postMessage({ type: 'failed', message: (e as Error).message } satisfies Answer);
  }
}
