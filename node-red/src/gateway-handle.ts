/**
 * The gateway behind a `vitalgate-keystore` config node: one `Gateway` of @vitalgate/edge-gateway
 * per data directory (the directory is locked to one writer), fed by vitalgate-seal nodes and
 * uploading for a vitalgate-upload node. It runs the gateway's own code: validation, de-duplication,
 * batching, sealing under rotating epoch keys, the durable store, the upload spool.
 *
 * It starts once every flow has started (Node-RED's `flows:started`), so that an upload node has
 * said where ingest is before the gateway opens its spool; a node that needs it earlier waits on
 * `ready`.
 */
import { readFile } from 'node:fs/promises';
import type { Logger } from 'pino';
import { Gateway, type GatewayOptions } from '@vitalgate/edge-gateway';

export interface GatewayHandleOptions {
  dataDir: string;
  /** A file holding the passphrase (never the passphrase itself in a flow). */
  passphraseFile: string;
  batchWindowMs?: number;
  epochMinutes?: number;
  chain?: { url: string; deploymentFile: string; adminKeyFile?: string };
  logger: Logger;
  /** Test hook: faster key derivation. */
  scrypt?: GatewayOptions['scrypt'];
}

export interface IngestRequest { url: string; quotaBytes?: number }

const open = new Set<GatewayHandle>();

/** Seals what is pending in every open gateway (the MQTT intake asks when its window is full). */
export async function flushAllGateways(): Promise<void> {
  await Promise.all([...open].map(async (h) => (h.current ? h.current.flush(true) : undefined)));
}

export class GatewayHandle {
  current: Gateway | undefined;
  private ingest: IngestRequest | undefined;
  private starting: Promise<Gateway> | undefined;
  private closed = false;
  private resolveReady!: (gw: Gateway) => void;
  private rejectReady!: (e: Error) => void;
  /** Resolves when the gateway runs (it starts once every flow has started). */
  readonly ready: Promise<Gateway>;

  constructor(readonly opts: GatewayHandleOptions) {
    this.ready = new Promise<Gateway>((resolve, reject) => {
      this.resolveReady = resolve;
      this.rejectReady = reject;
    });
    this.ready.catch(() => undefined);
  }

  /** An upload node's ingest; only before the gateway starts, and only one per gateway. */
  requestIngest(req: IngestRequest): void {
    if (this.starting) throw new Error('the gateway has already started: redeploy to add an upload');
    if (this.ingest && this.ingest.url !== req.url) throw new Error(`this keystore already uploads to ${this.ingest.url}: one ingest per gateway`);
    if (!this.opts.chain) throw new Error('uploading needs the chain (set it on the keystore node): ingest requests are signed with the gateway\'s registered account');
    this.ingest = req;
  }

  get uploading(): boolean {
    return this.ingest !== undefined;
  }

  /** Starts the gateway (once); resolves when it runs. */
  start(): Promise<Gateway> {
    this.starting ??= this.doStart();
    this.starting.then(this.resolveReady, this.rejectReady);
    return this.starting;
  }

  private async doStart(): Promise<Gateway> {
    if (this.closed) throw new Error('the keystore node was closed');
    const passphrase = (await readFile(this.opts.passphraseFile, 'utf8')).replace(/\r?\n$/, '');
    if (!passphrase) throw new Error(`the passphrase file ${this.opts.passphraseFile} is empty`);
    const c = this.opts.chain;
    const adminKey = c?.adminKeyFile ? (await readFile(c.adminKeyFile, 'utf8')).trim() : undefined;
    const gw = await Gateway.start({
      dataDir: this.opts.dataDir,
      passphrase,
      lockPurpose: 'node-red',
      logger: this.opts.logger,
      ...(this.opts.batchWindowMs !== undefined && { batchWindowMs: this.opts.batchWindowMs }),
      ...(this.opts.epochMinutes !== undefined && { epochPeriodMs: this.opts.epochMinutes * 60_000 }),
      ...(this.opts.scrypt && { scrypt: this.opts.scrypt }),
      ...(c && { chain: { url: c.url, deploymentFile: c.deploymentFile, ...(adminKey && { adminKey }) } }),
      ...(this.ingest && { ingest: { url: this.ingest.url, ...(this.ingest.quotaBytes && { quotaBytes: this.ingest.quotaBytes }) } }),
    });
    gw.setMaxListeners(0);
    if (this.closed) {
      await gw.stop();
      throw new Error('the keystore node was closed');
    }
    this.current = gw;
    open.add(this);
    return gw;
  }

  /** Seals and stores everything pending, then stops the gateway and releases the data directory. */
  async close(): Promise<void> {
    this.closed = true;
    open.delete(this);
    this.rejectReady(new Error('the keystore node was closed before the gateway started'));
    const gw = await this.starting?.catch(() => undefined);
    this.current = undefined;
    await gw?.stop();
  }
}
