/**
 * PUT /v1/envelopes/{patientAccount}/{grantee}/{stream}/{epoch}
 *   Body: a key envelope (docs/formats.md, "Key envelope"): the patient's epoch key for that stream
 *   and epoch, encrypted by the patient's gateway to the grantee's registered key. The cloud can
 *   store it and hand it out, never open it.
 *
 *   Only the patient's own gateway (Registry `gatewayOf`) may upload it. It is stored once, under
 *   the grantee first, so a clinician's envelopes are one listing; the same bytes again are a
 *   no-op (200), different bytes for the same name a 409 (envelopes are immutable, like batches).
 *   Ingest checks the format, not the authorisation: the gateway decides who gets an envelope
 *   (it holds the keys), and an envelope is useless to anyone but its grantee.
 */
import type { FastifyInstance, preHandlerAsyncHookHandler } from 'fastify';
import { getAddress } from 'ethers';
import { isStreamName, parseEnvelope, type StreamName } from '@vitalgate/protocol';
import { backing, refuse } from '../errors.js';
import type { GatewayDirectory } from '../gateway-directory.js';
import type { ObjectStore } from '../storage/object-store.js';

export interface EnvelopeRouteOptions {
  store: ObjectStore;
  directory: GatewayDirectory;
  auth: preHandlerAsyncHookHandler;
}

/** envelopes/{grantee}/{patient account}/{stream}/{epoch, 10 digits}: one listing per grantee, then per patient. */
export const envelopeKey = (grantee: string, patientAccount: string, stream: StreamName, epoch: number): string =>
  `envelopes/${grantee}/${patientAccount}/${stream}/${String(epoch).padStart(10, '0')}`;

const ADDRESS_RE = /^0x[0-9a-fA-F]{40}$/;

export async function envelopeRoutes(app: FastifyInstance, o: EnvelopeRouteOptions): Promise<void> {
  app.put<{ Params: { patient: string; grantee: string; stream: string; epoch: string } }>('/v1/envelopes/:patient/:grantee/:stream/:epoch', { preHandler: o.auth }, async (req, reply) => {
    const p = req.params;
    if (!ADDRESS_RE.test(p.patient)) throw refuse(400, 'bad-metadata', 'the patient in the path must be a 0x account');
    if (!ADDRESS_RE.test(p.grantee)) throw refuse(400, 'bad-metadata', 'the grantee in the path must be a 0x account');
    if (!isStreamName(p.stream)) throw refuse(400, 'bad-metadata', `unknown stream ${JSON.stringify(p.stream.slice(0, 20))}`);
    if (!/^\d{1,10}$/.test(p.epoch) || Number(p.epoch) > 0xffffffff) throw refuse(400, 'bad-epoch', 'the epoch in the path must be a u32');
    const body = req.body as unknown;
    if (!(body instanceof Uint8Array) || body.length === 0) throw refuse(400, 'empty-body', 'the body must be the envelope (application/octet-stream)');
    const e = parseEnvelope(body);
    if (!e.ok) throw refuse(400, 'bad-envelope', `not a key envelope: ${e.reason}`);
    const patient = getAddress(p.patient);
    const grantee = getAddress(p.grantee);
    if ((await backing('chain', () => o.directory.gatewayOf(patient))) !== req.gateway) throw refuse(403, 'not-your-patient', `patient account ${patient} is not served by ${req.gateway}`);
    const key = envelopeKey(grantee, patient, p.stream, Number(p.epoch));
    const created = await backing('storage', async () => {
      if (await o.store.put(key, body)) return true;
      const have = await o.store.get(key);
      if (!have || Buffer.compare(Buffer.from(have), Buffer.from(body)) !== 0) throw refuse(409, 'record-conflict', `a different envelope is already stored for ${grantee}, ${p.stream}, epoch ${p.epoch}`);
      return false;
    });
    req.log.info({ gateway: req.gateway, grantee, stream: p.stream, epoch: Number(p.epoch), created }, created ? 'envelope stored' : 'envelope already stored');
    return reply.code(created ? 201 : 200).send({ stored: true, created });
  });
}
