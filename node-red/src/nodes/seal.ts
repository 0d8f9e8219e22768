/**
 * `vitalgate-seal`: readings in, sealed batches out, under the keystore of a vitalgate-keystore
 * config node, by the gateway's own pipeline (validation, de-duplication, batching, sealing with
 * epoch keys, the durable store).
 *
 * A message is acknowledged (`done()`, and the token of its source, for MQTT the PUBACK) only once
 * the batch holding its reading is durable: sealed, written, fsynced and indexed. A crash, a
 * redeploy or a broker that drops loses nothing that was acknowledged. Each sealed batch goes out
 * as one message: `msg.payload` = its record (id, patient, device, stream, epoch, count, times, size).
 */
import type { BatchRecord, Gateway } from '@vitalgate/edge-gateway';
import { acknowledge, ackTokenOf } from '../acks.js';
import { parseReading } from '../reading-message.js';
import { errorText, type DoneFn, type Node, type NodeDef, type NodeMessage, type RedApi } from '../red.js';
import { keystoreOf } from './keystore.js';

interface Waiting { intake: number; token: string | undefined; done: DoneFn }

export function batchMessage(r: BatchRecord): NodeMessage {
  const { pack: _p, offset: _o, ...rec } = r;
  return { topic: `vitalgate/sealed/${r.patientId}/${r.stream}`, payload: rec };
}

export function registerSeal(RED: RedApi): void {
  RED.nodes.registerType('vitalgate-seal', function (this: Node, def: NodeDef) {
    RED.nodes.createNode(this, def);
    const node = this;
    const handle = keystoreOf(RED, def);
    if (!handle) {
      node.status({ fill: 'red', shape: 'ring', text: 'no keystore configured' });
      node.on('input', (_m, _s, done) => done(new Error('vitalgate-seal has no vitalgate-keystore configured')));
      return;
    }
    const waiting: Waiting[] = [];
    /** Streams this node fed, so it sends out only its own batches when several share a keystore. */
    const fed = new Set<string>();
    let gw: Gateway | undefined;
    let sealed = 0;
    let readings = 0;
    let lastError: string | undefined;
    let statusTimer: NodeJS.Timeout | undefined;

    const showStatus = () => {
      statusTimer = undefined;
      if (lastError) return node.status({ fill: 'red', shape: 'ring', text: lastError.slice(0, 60) });
      const m = gw?.metrics();
      node.status({ fill: gw ? 'green' : 'yellow', shape: 'dot', text: gw ? `sealed ${sealed} batches (${readings} readings), waiting ${waiting.length}${m?.flushErrors ? `, ${m.flushErrors} flush errors` : ''}` : 'starting' });
    };
    const status = () => {
      statusTimer ??= setTimeout(showStatus, 250);
    };

    const release = () => {
      if (!gw) return;
      const before = gw.durableBefore();
      let i = 0;
      while (i < waiting.length && waiting[i]!.intake < before) i++;
      for (const w of waiting.splice(0, i)) {
        acknowledge(w.token);
        w.done();
      }
      if (i) status();
    };
    const onSealed = (recs: BatchRecord[]) => {
      for (const r of recs) {
        if (r.kind || !fed.has(`${r.patientId}/${r.deviceId}/${r.stream}`)) continue;
        sealed++;
        readings += r.count;
        node.send(batchMessage(r));
      }
      lastError = undefined;
      status();
    };
    const onRejected = (info: { reason: string }) => {
      lastError = info.reason;
      status();
    };

    node.status({ fill: 'yellow', shape: 'ring', text: 'starting' });
    const ready = handle.ready.then((g) => {
      gw = g;
      g.on('durable', release);
      g.on('sealed', onSealed);
      g.on('rejected', onRejected);
      showStatus();
      return g;
    }, (e: unknown) => {
      lastError = errorText(e);
      node.status({ fill: 'red', shape: 'ring', text: `gateway: ${lastError}`.slice(0, 60) });
      throw e;
    });
    ready.catch(() => undefined);

    node.on('input', (msg, _send, done) => {
      const r = parseReading(msg.payload);
      const token = ackTokenOf(msg);
      if (!r.ok) {
        // Refused for good: a redelivery would be refused again, so its source may let it go.
        acknowledge(token);
        lastError = r.reason;
        status();
        return done(new Error(r.reason));
      }
      ready.then((g) => {
        const { patientId, deviceId, stream, body } = r.value;
        fed.add(`${patientId}/${deviceId}/${stream}`);
        waiting.push({ intake: g.acceptReading(patientId, deviceId, stream, body), token, done });
        status();
      }, (e: unknown) => done(new Error(`gateway not running: ${errorText(e)}`)));
    });

    node.on('close', (_removed, done) => {
      clearTimeout(statusTimer);
      // Seal what this node took in before letting go; what cannot be made durable is not acknowledged.
      const finish = () => {
        gw?.off('durable', release);
        gw?.off('sealed', onSealed);
        gw?.off('rejected', onRejected);
        for (const w of waiting.splice(0)) w.done(new Error('closed before the reading was durable; its source redelivers it'));
        done();
      };
      if (gw && waiting.length) gw.flush(true).then(() => release(), () => undefined).finally(finish);
      else finish();
    });
  });
}
