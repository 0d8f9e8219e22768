/**
 * One Provenance per sealed batch: its targets are the Observations made from the batch's
 * readings, the gateway that sealed it is the assembling agent, and its entities name the batch id
 * (SHA-256 of the sealed bytes) and, once the batch is anchored, the Merkle root that covers it and
 * the transaction that anchored that root. With these a reader can fetch the batch and prove it
 * against the chain (`vitalgate verify`) without trusting the bundle.
 */
import { ID_SYSTEM, PROVENANCE_PARTICIPANT } from './codes.js';
import { isoMs, nameUuid, parseIsoMs } from './refs.js';
import type { FhirBatch, Provenance, Reference } from './types.js';

export function batchProvenance(patientId: string, batch: FhirBatch, targets: readonly Reference[], gateway: Reference): Provenance {
  const entity: Provenance['entity'] = [
    { role: 'source', what: { identifier: { system: ID_SYSTEM.batch, value: batch.id }, display: 'sealed batch (SHA-256 of its sealed bytes)' } },
  ];
  if (batch.anchor) {
    entity.push(
      { role: 'source', what: { identifier: { system: ID_SYSTEM.merkleRoot, value: batch.anchor.root }, display: 'Merkle root over the batch ids, anchored in DataAnchor' } },
      { role: 'source', what: { identifier: { system: ID_SYSTEM.anchorTx, value: batch.anchor.txHash }, display: 'transaction that anchored the Merkle root' } },
    );
  }
  return {
    resourceType: 'Provenance',
    id: nameUuid(`provenance/${patientId}/${batch.id}`),
    target: [...targets],
    occurredPeriod: { start: isoMs(batch.firstTs), end: isoMs(batch.lastTs) },
    recorded: isoMs(batch.recorded),
    agent: [{
      type: { coding: [{ system: PROVENANCE_PARTICIPANT, code: 'assembler', display: 'Assembler' }] },
      who: gateway,
    }],
    entity,
  };
}

export function readProvenance(p: Provenance): FhirBatch {
  const where = `Provenance ${p.id}`;
  const ident = (system: string) => p.entity.find((e) => e.what.identifier?.system === system)?.what.identifier?.value;
  const id = ident(ID_SYSTEM.batch);
  if (id === undefined) throw new Error(`${where}: names no batch`);
  const root = ident(ID_SYSTEM.merkleRoot);
  const txHash = ident(ID_SYSTEM.anchorTx);
  if ((root === undefined) !== (txHash === undefined)) throw new Error(`${where}: a Merkle root without its transaction, or the reverse`);
  return {
    id,
    recorded: parseIsoMs(p.recorded, where),
    firstTs: parseIsoMs(p.occurredPeriod?.start, where),
    lastTs: parseIsoMs(p.occurredPeriod?.end, where),
    ...(root !== undefined && txHash !== undefined ? { anchor: { root, txHash } } : {}),
  };
}
