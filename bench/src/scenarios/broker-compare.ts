/**
 * Broker comparison: the saturation load (harness/load.ts) against one counting subscriber, four times
 * in one run on this machine:
 *   1. our broker, identity off;
 *   2. our broker with a registry: every connection logs in (scrypt-hashed secrets) and every
 *      PUBLISH and SUBSCRIBE passes the topic ACLs;
 *   3. Mosquitto (Debian's `mosquitto`), anonymous;
 *   4. Mosquitto with a password file and an ACL file granting the same topics as 2.
 * The subscriber subscribes per patient in all four, as a gateway under ACLs must, so the only
 * difference between 1 and 2 (and 3 and 4) is authentication and authorisation.
 */
import { spawnSync } from 'node:child_process';
import { execFileSync } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Registry } from '@vitalgate/broker';
import { STREAM_NAMES, readingTopic } from '@vitalgate/protocol';
import { findProgram } from '@vitalgate/test-support';
import { loadDeviceId, loadPatientId } from '../harness/load.js';
import type { Log } from '../harness/child.js';
import { mosquittoBroker, vitalgateBroker } from '../harness/launchers.js';
import { MARKER_DEVICE, MARKER_PATIENT, loadPatients, runSaturationBare, type BareSaturation, type BenchIdentities } from './saturation.js';

export interface BrokerCompareOptions {
  seconds: number;
  connections: number;
  window: number;
  dir: string;
  log: Log;
  onCleanup: (f: () => Promise<void>) => void;
}

export interface BrokerRun {
  received: number;
  receivedPerSec: number;
  ackedPerSec: number;
  missing: number;
  brokerCpuPercent: number | null;
  brokerRssMb: number | null;
}

export interface BrokerComparison {
  connections: number;
  window: number;
  seconds: number;
  vitalgate: { open: BrokerRun; identity: BrokerRun };
  /** null when Mosquitto is not installed (apt-get install mosquitto). */
  mosquitto: { open: BrokerRun; identity: BrokerRun; version: string } | null;
  /** Our broker's throughput with identity and ACLs on ÷ off. */
  identityRatio: number;
  /** Ours ÷ Mosquitto, identity off and on. */
  vsMosquitto: { open: number; identity: number } | null;
}

const PREFIX = 'brk';
const GATEWAY_ID = 'bench-gateway';

function toRun(r: BareSaturation, brokerName: string): BrokerRun {
  return {
    received: r.received,
    receivedPerSec: r.ceilingMessagesPerSec,
    ackedPerSec: r.ackedPerSec,
    missing: r.missing,
    brokerCpuPercent: r.cpuPercent[brokerName] ?? null,
    brokerRssMb: r.brokerRssMb,
  };
}

type Identities = BenchIdentities & { patients: string[] };

/**
 * A registry with an identity for every load connection, the subscriber (a gateway bound to all
 * their patients) and the marker device, hashed at the production scrypt cost; the secrets it
 * issued go to the load and to Mosquitto's password file.
 */
async function makeIdentities(connections: number, registryFile: string): Promise<Identities> {
  const reg = new Registry();
  const devices = new Map<string, string>();
  for (let i = 0; i < connections; i++) {
    const id = loadDeviceId(PREFIX, connections, i);
    devices.set(id, (await reg.addDevice(id, loadPatientId(PREFIX, connections, i), STREAM_NAMES)).secret);
  }
  const patients = loadPatients(PREFIX, connections);
  const marker = { id: MARKER_DEVICE, secret: (await reg.addDevice(MARKER_DEVICE, MARKER_PATIENT, ['ecg'])).secret };
  const subscriber = { id: GATEWAY_ID, secret: (await reg.addGateway(GATEWAY_ID, patients)).secret };
  await reg.save(registryFile);
  return { devices, subscriber, marker, patients };
}

/** Mosquitto's equivalent: a password file (hashed by mosquitto_passwd -U) and per-user topic rules. */
async function writeMosquittoIdentity(dir: string, ids: Identities, connections: number, passwd: string): Promise<{ passwordFile: string; aclFile: string }> {
  const passwordFile = join(dir, 'mosquitto.passwd');
  const aclFile = join(dir, 'mosquitto.acl');
  const users: Array<[string, string]> = [...ids.devices, [ids.marker.id, ids.marker.secret], [ids.subscriber.id, ids.subscriber.secret]];
  await writeFile(passwordFile, users.map(([u, p]) => `${u}:${p}`).join('\n') + '\n', { mode: 0o600 });
  execFileSync(passwd, ['-U', passwordFile]);
  const acl: string[] = [`user ${ids.subscriber.id}`, ...ids.patients.map((p) => `topic read vg/v1/${p}/+/+`), ''];
  let i = 0;
  for (const id of ids.devices.keys()) {
    const patient = loadPatientId(PREFIX, connections, i++);
    acl.push(`user ${id}`, ...STREAM_NAMES.map((s) => `topic write ${readingTopic(patient, id, s)}`), `topic write vg/v1/${patient}/${id}/status`, '');
  }
  acl.push(`user ${ids.marker.id}`, `topic write ${readingTopic(MARKER_PATIENT, MARKER_DEVICE, 'ecg')}`, '');
  await writeFile(aclFile, acl.join('\n'));
  return { passwordFile, aclFile };
}

export async function runBrokerComparison(o: BrokerCompareOptions): Promise<BrokerComparison> {
  const { log } = o;
  await mkdir(o.dir, { recursive: true });
  const registryFile = join(o.dir, 'registry.json');
  log(`broker: issuing ${o.connections + 2} credentials (scrypt N=2^15, as in production)`);
  const ids = await makeIdentities(o.connections, registryFile);
  const base = { seconds: o.seconds, connections: o.connections, window: o.window, log, onCleanup: o.onCleanup, persistent: false, perPatientFilters: true, prefix: PREFIX };

  log('broker: (1) vitalgate broker, identity off');
  const open = await runSaturationBare({ ...base, phase: 'broker/vitalgate-open', broker: await vitalgateBroker(log) });
  log('broker: (2) vitalgate broker, identity and ACLs on');
  const identity = await runSaturationBare({ ...base, phase: 'broker/vitalgate-identity', broker: await vitalgateBroker(log, ['--registry', registryFile]), identities: ids });
  const ours = { open: toRun(open, 'broker'), identity: toRun(identity, 'broker') };

  let mosquitto: BrokerComparison['mosquitto'] = null;
  const bin = findProgram('mosquitto') ?? findProgram('/usr/sbin/mosquitto');
  const passwd = findProgram('mosquitto_passwd') ?? findProgram('/usr/bin/mosquitto_passwd');
  if (!bin || !passwd) {
    log('broker: Mosquitto is not installed (apt-get install mosquitto): its figures are left out');
  } else {
    // `mosquitto -h` prints its version first and exits non-zero.
    const version = /mosquitto version [\d.]+/.exec(spawnSync(bin, ['-h'], { encoding: 'utf8' }).stdout)?.[0] ?? 'mosquitto';
    const mIds = await writeMosquittoIdentity(o.dir, ids, o.connections, passwd);
    log(`broker: (3) ${version}, anonymous`);
    const mOpen = await runSaturationBare({ ...base, phase: 'broker/mosquitto-open', broker: await mosquittoBroker(bin, o.dir, 'open') });
    log(`broker: (4) ${version}, password file and ACL file`);
    const mIdentity = await runSaturationBare({ ...base, phase: 'broker/mosquitto-identity', broker: await mosquittoBroker(bin, o.dir, 'identity', mIds), identities: ids });
    mosquitto = { open: toRun(mOpen, 'mosquitto'), identity: toRun(mIdentity, 'mosquitto'), version };
  }
  const ratio = (a: number, b: number) => (b > 0 ? Math.round((a / b) * 1000) / 1000 : 0);
  return {
    connections: o.connections,
    window: o.window,
    seconds: o.seconds,
    vitalgate: ours,
    mosquitto,
    identityRatio: ratio(ours.identity.receivedPerSec, ours.open.receivedPerSec),
    vsMosquitto: mosquitto
      ? { open: ratio(ours.open.receivedPerSec, mosquitto.open.receivedPerSec), identity: ratio(ours.identity.receivedPerSec, mosquitto.identity.receivedPerSec) }
      : null,
  };
}

