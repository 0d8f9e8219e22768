/**
 * `vitalgate-fhir`: readings in, FHIR R4 out: a Bundle of vital-signs Observations per message
 * (`msg.payload` one reading, or an array of readings of one patient), by the protocol package's
 * mapping (see fhir-mapping.ts).
 */
import { loadFhirMapping } from '../fhir-mapping.js';
import { parseReading, type PatientReading } from '../reading-message.js';
import { errorText, type Node, type NodeDef, type RedApi } from '../red.js';

export function registerFhir(RED: RedApi): void {
  RED.nodes.registerType('vitalgate-fhir', function (this: Node, def: NodeDef) {
    RED.nodes.createNode(this, def);
    const node = this;
    let bundles = 0;
    const mapping = loadFhirMapping();
    mapping.then((m) => node.status(m
      ? { fill: 'green', shape: 'dot', text: 'ready' }
      : { fill: 'red', shape: 'ring', text: 'FHIR mapping not in @vitalgate/protocol yet' }), () => undefined);
    node.on('input', (msg, send, done) => {
      const items = Array.isArray(msg.payload) ? msg.payload as unknown[] : [msg.payload];
      const readings: PatientReading[] = [];
      for (const [i, item] of items.entries()) {
        const r = parseReading(item);
        if (!r.ok) return done(new Error(`reading ${i}: ${r.reason}`));
        readings.push(r.value);
      }
      if (new Set(readings.map((r) => r.patientId)).size > 1) return done(new Error('one patient per message: a Bundle is one patient\'s'));
      mapping.then((m) => {
        if (!m) throw new Error('the FHIR mapping (readingsToFhirBundle) is not in @vitalgate/protocol yet');
        const bundle = m.readingsToFhirBundle(readings);
        bundles++;
        node.status({ fill: 'green', shape: 'dot', text: `${bundles} bundles` });
        send({ ...msg, topic: `vitalgate/fhir/${readings[0]?.patientId ?? ''}`, payload: bundle });
        done();
      }).catch((e: unknown) => {
        node.status({ fill: 'red', shape: 'ring', text: errorText(e).slice(0, 60) });
        done(e instanceof Error ? e : new Error(errorText(e)));
      });
    });
  });
}
