/**
 * Scalar readings ↔ vital-signs Observations, one Observation per reading.
 *
 * The stream's primary component is the Observation's value; its other components (SpO2's pulse
 * rate, the BP panel's systolic, diastolic, mean and pulse) are `component`s coded by LOINC, and a
 * heart rate's RR intervals are components coded MDC_ECG_TIME_PD_RR_GL, in ms, oldest first. A
 * component the device could not measure (an IEEE special) carries a dataAbsentReason instead of
 * a value. Numbers are written as they are: JSON keeps a double exactly, so nothing is rounded.
 */
import { STREAMS, type ScalarStreamSpec, type StreamName } from '../streams.js';
import {
  ABSENT_REASON, IEEE_SPECIALS, ID_SYSTEM, OBSERVATION_CATEGORY, RR_CODING, SCALAR_MAPPINGS, UCUM, UCUM_DISPLAY,
  GATEWAY_DEVICE_EXT, LOINC, LOINC_DISPLAY, type Coding, type IeeeSpecial,
} from './codes.js';
import { isoMs, nameUuid, parseIsoMs } from './refs.js';
import type {
  CodeableConcept, ComponentValue, FhirReading, FhirScalarBody, Observation, ObservationComponent, Quantity, Reference,
} from './types.js';

/** Where an Observation points: the patient, the sensor and the gateway that relayed it. */
export interface ObservationContext {
  subject: Reference;
  device: Reference;
  gateway: Reference;
}

export const quantity = (value: number, ucum: string): Quantity => ({ value, unit: UCUM_DISPLAY[ucum] ?? ucum, system: UCUM, code: ucum });

export const absentReason = (why: IeeeSpecial): CodeableConcept => ({ coding: [{ ...ABSENT_REASON[why].coding }], text: ABSENT_REASON[why].text });

export function readAbsentReason(c: CodeableConcept, where: string): IeeeSpecial {
  const why = IEEE_SPECIALS.find((s) => ABSENT_REASON[s].text === c.text && ABSENT_REASON[s].coding.code === c.coding?.[0]?.code);
  if (!why) throw new Error(`${where}: dataAbsentReason is not one of the IEEE 11073 specials`);
  return why;
}

export function category(code: 'vital-signs' | 'laboratory'): CodeableConcept[] {
  return [{ coding: [{ system: OBSERVATION_CATEGORY, code, display: code === 'vital-signs' ? 'Vital Signs' : 'Laboratory' }] }];
}

export const gatewayExtension = (gateway: Reference) => ({ url: GATEWAY_DEVICE_EXT, valueReference: gateway });

/** Observation id of one reading: the same reading always gets the same id. */
export const readingObservationId = (patientId: string, r: Pick<FhirReading, 'deviceId' | 'stream'> & { body: { seq: number; ts: number } }): string =>
  nameUuid(`observation/${patientId}/${r.deviceId}/${r.stream}/${r.body.seq}/${r.body.ts}`);

export function isScalarMapped(stream: StreamName): boolean {
  return SCALAR_MAPPINGS[stream] !== undefined;
}

function valuePart(v: ComponentValue, ucum: string): { valueQuantity: Quantity } | { dataAbsentReason: CodeableConcept } {
  return typeof v === 'number' ? { valueQuantity: quantity(v, ucum) } : { dataAbsentReason: absentReason(v.absent) };
}

const loincCoding = (code: string): Coding => ({ system: LOINC, code, display: LOINC_DISPLAY[code] ?? code });

export function scalarObservation(patientId: string, r: FhirReading & { body: FhirScalarBody }, ctx: ObservationContext): Observation {
  const spec = STREAMS[r.stream] as ScalarStreamSpec;
  const m = SCALAR_MAPPINGS[r.stream];
  if (!m || spec.kind !== 'scalar') throw new Error(`stream ${r.stream} has no FHIR scalar mapping`);
  const o: Observation = {
    resourceType: 'Observation',
    id: readingObservationId(patientId, r),
    ...(m.profile ? { meta: { profile: [m.profile] } } : {}),
    extension: [gatewayExtension(ctx.gateway)],
    identifier: [{ system: ID_SYSTEM.reading, value: `${r.deviceId}/${r.stream}/${r.body.seq}` }],
    status: 'final',
    category: category(m.category),
    code: { coding: m.codes.map((c) => ({ ...c })) },
    subject: ctx.subject,
    effectiveDateTime: isoMs(r.body.ts),
    device: ctx.device,
  };
  const components: ObservationComponent[] = [];
  for (const [name, c] of Object.entries(spec.components)) {
    const v = r.body.values[name];
    if (v === undefined) continue;
    if (name === m.primary) Object.assign(o, valuePart(v, c.ucum));
    else components.push({ code: { coding: [loincCoding(c.loinc)] }, ...valuePart(v, c.ucum) });
  }
  for (const rr of r.body.rr ?? []) components.push({ code: { coding: [{ ...RR_CODING }] }, valueQuantity: quantity(rr, 'ms') });
  if (components.length > 0) o.component = components;
  return o;
}

function componentValue(c: { valueQuantity?: Quantity; dataAbsentReason?: CodeableConcept }, ucum: string, where: string): ComponentValue {
  if (c.valueQuantity) {
    if (c.valueQuantity.system !== UCUM || c.valueQuantity.code !== ucum) throw new Error(`${where}: unit is not UCUM ${ucum}`);
    if (typeof c.valueQuantity.value !== 'number') throw new Error(`${where}: value is not a number`);
    return c.valueQuantity.value;
  }
  if (c.dataAbsentReason) return { absent: readAbsentReason(c.dataAbsentReason, where) };
  throw new Error(`${where}: neither a value nor a dataAbsentReason`);
}

/** The stream a scalar Observation states, from its first code. */
export function scalarStreamOf(o: Observation): StreamName | undefined {
  const first = o.code.coding?.[0];
  for (const [stream, m] of Object.entries(SCALAR_MAPPINGS)) {
    if (m && first && m.codes[0]!.system === first.system && m.codes[0]!.code === first.code) return stream as StreamName;
  }
  return undefined;
}

/** The reading a scalar Observation states; `deviceId` comes from the Device it references. */
export function readScalarObservation(o: Observation, stream: StreamName, deviceId: string): FhirReading {
  const spec = STREAMS[stream] as ScalarStreamSpec;
  const m = SCALAR_MAPPINGS[stream]!;
  const where = `Observation ${o.id}`;
  const id = o.identifier?.find((i) => i.system === ID_SYSTEM.reading)?.value ?? '';
  const seqText = id.startsWith(`${deviceId}/${stream}/`) ? id.slice(deviceId.length + stream.length + 2) : '';
  if (!/^\d+$/.test(seqText)) throw new Error(`${where}: no ${ID_SYSTEM.reading} identifier for ${deviceId}/${stream}`);
  const body: FhirScalarBody = { seq: Number(seqText), ts: parseIsoMs(o.effectiveDateTime, where), values: {} };
  if (m.primary !== undefined) body.values[m.primary] = componentValue(o, spec.components[m.primary]!.ucum, where);
  const rr: number[] = [];
  for (const c of o.component ?? []) {
    const code = c.code.coding?.[0];
    if (code?.system === RR_CODING.system && code.code === RR_CODING.code) {
      const v = componentValue(c, 'ms', `${where} RR`);
      if (typeof v !== 'number') throw new Error(`${where}: an RR interval without a value`);
      rr.push(v);
      continue;
    }
    const name = Object.keys(spec.components).find((k) => k !== m.primary && code?.system === LOINC && spec.components[k]!.loinc === code.code);
    if (name === undefined) throw new Error(`${where}: component ${code?.code ?? '?'} is not part of ${stream}`);
    body.values[name] = componentValue(c, spec.components[name]!.ucum, `${where} ${name}`);
  }
  if (rr.length > 0) body.rr = rr;
  return { deviceId, stream, body };
}
