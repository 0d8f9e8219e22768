/**
 * Device resources in the style of the IEEE 11073 Personal Health Device IG: one per sensor
 * (type MDC_MOC_VMS_MDS_SIMP, a specialization per PHD profile its streams belong to) and one for
 * the gateway, the PHG (type MDC_MOC_VMS_MDS_AHD). Vitalgate device ids are not EUI-64 system ids,
 * so they are stated under Vitalgate's own identifier system rather than the IEEE one.
 */
import type { StreamName } from '../streams.js';
import { DEVICE_SPECIALIZATION, ID_SYSTEM, PHD_DEVICE_TYPE, PHG_DEVICE_TYPE } from './codes.js';
import { nameUuid } from './refs.js';
import type { Device, FhirGateway, Reference } from './types.js';

export function sensorDevice(patientId: string, deviceId: string, streams: readonly StreamName[], patient: Reference): Device {
  const specs = [...new Map(streams.flatMap((s) => {
    const c = DEVICE_SPECIALIZATION[s];
    return c ? [[c.code, c] as const] : [];
  })).values()];
  return {
    resourceType: 'Device',
    id: nameUuid(`device/${patientId}/${deviceId}`),
    identifier: [{ system: ID_SYSTEM.device, value: deviceId }],
    type: { coding: [{ ...PHD_DEVICE_TYPE }] },
    ...(specs.length > 0 ? { specialization: specs.map((c) => ({ systemType: { coding: [{ ...c }] } })) } : {}),
    deviceName: [{ name: deviceId, type: 'user-friendly-name' }],
    patient,
  };
}

export function gatewayDevice(gateway: FhirGateway): Device {
  return {
    resourceType: 'Device',
    id: nameUuid(`gateway/${gateway.id}`),
    identifier: [{ system: ID_SYSTEM.gateway, value: gateway.id }],
    type: { coding: [{ ...PHG_DEVICE_TYPE }] },
    deviceName: [{ name: gateway.display ?? `Vitalgate edge gateway ${gateway.id}`, type: 'user-friendly-name' }],
  };
}

/** The Vitalgate id a Device resource names, and whether it is the gateway. */
export function readDevice(d: Device): { id: string; gateway: boolean; display?: string } {
  const gw = d.identifier.find((i) => i.system === ID_SYSTEM.gateway);
  if (gw) return { id: gw.value, gateway: true, display: d.deviceName?.[0]?.name };
  const dev = d.identifier.find((i) => i.system === ID_SYSTEM.device);
  if (!dev) throw new Error(`Device ${d.id}: no ${ID_SYSTEM.device} identifier`);
  return { id: dev.value, gateway: false };
}
