/**
 * `vitalgate-fhir`: readings in, FHIR R4 out: a Bundle of vital-signs Observations per message
 * (`msg.payload` one reading, or an array of readings of one patient), by the protocol package's
 * mapping (`toFhirBundle`, the one `vitalgate export fhir` uses). `gateway` in the node's settings
 * names the gateway Device the Observations came through (default "node-red").
 */
import { toFhirBundle } from '@vitalgate/protocol';
import { parseReading, type PatientReading } from '../reading-message.js';
import { errorText, type Node, type NodeDef, type RedApi } from '../red.js';

export function registerFhir(RED: RedApi): void {
  RED.nodes.registerType('vitalgate-fhir', function (this: Node, def: NodeDef & { gateway?: string }) {
    RED.nodes.createNode(this, def);
    const node = this;
    const gateway = { id: def.gateway?.trim() || 'node-red', display: 'Node-RED flow' };
    let bundles = 0;
    node.status({ fill: 'green', shape: 'dot', text: 'ready' });
    node.on('input', (msg, send, done) => {
      const items = Array.isArray(msg.payload) ? msg.payload as unknown[] : [msg.payload];
      const readings: PatientReading[] = [];
      for (const [i, item] of items.entries()) {
        const r = parseReading(item);
        if (!r.ok) return done(new Error(`reading ${i}: ${r.reason}`));
        readings.push(r.value);
      }
      if (!readings.length) return done(new Error('no readings in msg.payload'));
      if (new Set(readings.map((r) => r.patientId)).size > 1) return done(new Error('one patient per message: a Bundle is one patient\'s'));
      try {
        const out = toFhirBundle({ patientId: readings[0]!.patientId, gateway, readings });
        bundles++;
        node.status({ fill: 'green', shape: 'dot', text: `${bundles} bundles` });
        send({ ...msg, topic: `vitalgate/fhir/${readings[0]!.patientId}`, payload: out.bundle, ...(Object.keys(out.skipped).length && { skipped: out.skipped }) });
        done();
      } catch (e) {
        node.status({ fill: 'red', shape: 'ring', text: errorText(e).slice(0, 60) });
        done(e instanceof Error ? e : new Error(errorText(e)));
      }
    });
  });
}
