/**
 * `vitalgate-upload`: sealed batches (from vitalgate-seal) to ingest, through the gateway's durable
 * spool (@vitalgate/edge-gateway's Uploader): what ingest has not confirmed waits on disk and is
 * retried with backoff, across restarts; a full spool raises an alarm and drops nothing.
 *
 * The node sets the ingest of its keystore's gateway (which therefore needs the chain: requests are
 * signed with the gateway's registered account). A batch message is acknowledged (`done()`) and
 * sent on, with `msg.uploaded = true`, only once ingest has confirmed it stores the batch.
 */
import type { Gateway } from '@vitalgate/edge-gateway';
import { errorText, numProp, prop, type DoneFn, type Node, type NodeDef, type NodeMessage, type RedApi, type SendFn } from '../red.js';
import { keystoreOf } from './keystore.js';

/** Batch ids confirmed lately, for a message that arrives after its batch went up. */
const RECENT = 100_000;

export function registerUpload(RED: RedApi): void {
  RED.nodes.registerType('vitalgate-upload', function (this: Node, def: NodeDef) {
    RED.nodes.createNode(this, def);
    const node = this;
    const handle = keystoreOf(RED, def);
    const url = prop(def, 'ingest');
    const fail = (text: string) => {
      node.status({ fill: 'red', shape: 'ring', text: text.slice(0, 80) });
      node.on('input', (_m, _s, done) => done(new Error(text)));
    };
    if (!handle) return fail('no keystore configured');
    if (!url) return fail('no ingest URL');
    try {
      const quota = numProp(def, 'quotaMiB', 0);
      handle.requestIngest({ url, ...(quota && { quotaBytes: quota * 1024 * 1024 }) });
    } catch (e) {
      return fail(errorText(e));
    }
    const waiting = new Map<string, Array<{ msg: NodeMessage; send: SendFn; done: DoneFn }>>();
    const recent = new Set<string>();
    let gw: Gateway | undefined;
    const show = () => {
      const u = gw?.metrics().upload;
      if (!u) return;
      const bad = u.overQuota || u.lastError !== undefined;
      node.status({
        fill: bad ? 'red' : 'green', shape: bad ? 'ring' : 'dot',
        text: `spool ${u.waiting} batches (${Math.round(u.waitingBytes / 1024)} KiB), uploaded ${u.uploaded}${u.overQuota ? ', OVER QUOTA' : ''}${u.lastError ? `: ${u.lastError}` : ''}`.slice(0, 100),
      });
    };
    const onUploaded = (ids: string[]) => {
      for (const id of ids) {
        recent.add(id);
        for (const w of waiting.get(id) ?? []) {
          w.send({ ...w.msg, uploaded: true });
          w.done();
        }
        waiting.delete(id);
      }
      if (recent.size > RECENT) for (const id of [...recent].slice(0, recent.size - RECENT)) recent.delete(id);
    };
    node.status({ fill: 'yellow', shape: 'ring', text: 'starting' });
    const ready = handle.ready.then((g) => {
      gw = g;
      g.on('uploaded', onUploaded);
      show();
      return g;
    });
    ready.catch((e: unknown) => node.status({ fill: 'red', shape: 'ring', text: `gateway: ${errorText(e)}`.slice(0, 80) }));
    const timer = setInterval(show, 1000);

    node.on('input', (msg, send, done) => {
      const id = (msg.payload as { id?: unknown } | undefined)?.id;
      if (typeof id !== 'string' || !/^[0-9a-f]{64}$/.test(id)) return done(new Error('msg.payload is not a sealed batch (from vitalgate-seal: { id, … })'));
      ready.then(() => {
        // Every durable batch of the gateway is in its spool already; this waits for ingest's word.
        if (recent.has(id)) {
          send({ ...msg, uploaded: true });
          return done();
        }
        const list = waiting.get(id) ?? [];
        list.push({ msg, send, done });
        waiting.set(id, list);
      }, (e: unknown) => done(new Error(`gateway not running: ${errorText(e)}`)));
    });
    node.on('close', (_removed, done) => {
      clearInterval(timer);
      gw?.off('uploaded', onUploaded);
      // Not confirmed yet, but durable in the spool: the gateway uploads them after its next start.
      for (const list of waiting.values()) for (const w of list) w.done(new Error('closed before ingest confirmed the batch; it stays in the spool and goes up after the next start'));
      waiting.clear();
      done();
    });
  });
}
