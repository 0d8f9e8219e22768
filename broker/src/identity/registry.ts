/**
 * The broker's identity registry: which devices and gateways exist, what each may do, and a slow
 * hash of each one's secret.
 *
 * - A secret is 32 random bytes (base64url), shown once by `vitalgate devices|gateways add` and
 *   never stored. The registry keeps scrypt(secret, per-credential salt) with its parameters, so
 *   parameters can be raised later without invalidating existing credentials.
 * - Devices and gateways share one id namespace: the id is the MQTT username and clientId.
 * - Revocation keeps the record (with revokedAt) for audit; a revoked id can only come back with
 *   `replace` (a new secret).
 * - The file is JSON, mode 0600, written atomically (temporary file, fsync, rename, fsync dir).
 *
 * The registry is an EventEmitter: 'revoked' (id) fires when a credential stops being valid as it
 * was (revoked, removed, replaced, or its permissions changed), so a running broker can disconnect
 * that client at once.
 */
import { EventEmitter } from 'node:events';
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { watch, type FSWatcher } from 'node:fs';
import { basename, dirname } from 'node:path';
import { scryptNative } from '@vitalgate/protocol/native';
import { assertValidId, isStreamName, STREAM_NAMES, type StreamName } from '@vitalgate/protocol';
import { writeFileAtomic } from '@vitalgate/protocol/durable';

export const DEFAULT_REGISTRY_PATH = '.vitalgate/broker-registry.json';

export interface ScryptParams {
  N: number;
  r: number;
  p: number;
  dkLen: number;
}

/** ~175 ms per check on this project's machines with @noble/hashes: slow for a guesser, fine for a connect. */
export const DEFAULT_SCRYPT: Readonly<ScryptParams> = { N: 1 << 15, r: 8, p: 1, dkLen: 32 };

export interface SecretHash extends ScryptParams {
  alg: 'scrypt';
  /** base64 */
  salt: string;
  /** base64 */
  hash: string;
}

interface EntryBase {
  secret: SecretHash;
  createdAt: string;
  revokedAt?: string;
}

export interface DeviceEntry extends EntryBase {
  patient: string;
  streams: StreamName[];
}

export interface GatewayEntry extends EntryBase {
  patients: string[];
}

export interface RegistryData {
  version: 1;
  devices: Record<string, DeviceEntry>;
  gateways: Record<string, GatewayEntry>;
}

export type Identity =
  | { kind: 'device'; id: string; entry: DeviceEntry }
  | { kind: 'gateway'; id: string; entry: GatewayEntry };

export interface AddOptions {
  /** Replace an existing (or revoked) entry of the same kind with a new secret. */
  replace?: boolean;
  /** scrypt parameters for the new credential (tests use small ones). */
  scrypt?: ScryptParams;
}

export interface Added {
  id: string;
  /** Shown once; not stored anywhere. */
  secret: string;
}

export function emptyRegistry(): RegistryData {
  return { version: 1, devices: {}, gateways: {} };
}

export function newSecret(): string {
  return randomBytes(32).toString('base64url');
}

export async function hashSecret(secret: string, params: ScryptParams = DEFAULT_SCRYPT): Promise<SecretHash> {
  const salt = randomBytes(16);
  const hash = await scryptNative(Buffer.from(secret, 'utf8'), salt, { ...params });
  return { alg: 'scrypt', ...params, salt: salt.toString('base64'), hash: Buffer.from(hash).toString('base64') };
}

/** Derives the candidate's hash with the stored parameters and compares the two in constant time. */
export async function verifySecret(candidate: string | Buffer, stored: SecretHash): Promise<boolean> {
  if (stored.alg !== 'scrypt') return false;
  const expected = Buffer.from(stored.hash, 'base64');
  const got = await scryptNative(typeof candidate === 'string' ? Buffer.from(candidate, 'utf8') : candidate, Buffer.from(stored.salt, 'base64'), {
    N: stored.N, r: stored.r, p: stored.p, dkLen: stored.dkLen,
  });
  return got.length === expected.length && timingSafeEqual(got, expected);
}

function fail(msg: string): never {
  throw new Error(msg);
}

function checkSecretHash(where: string, s: unknown): SecretHash {
  const h = s as SecretHash;
  if (!h || h.alg !== 'scrypt' || typeof h.salt !== 'string' || typeof h.hash !== 'string') fail(`${where}: secret must be {alg:"scrypt", salt, hash, N, r, p, dkLen}`);
  for (const k of ['N', 'r', 'p', 'dkLen'] as const) if (!Number.isInteger(h[k]) || h[k] < 1) fail(`${where}: secret.${k} must be a positive integer`);
  if ((h.N & (h.N - 1)) !== 0 || h.N < 2) fail(`${where}: secret.N must be a power of two`);
  return h;
}

/** Validates parsed JSON as RegistryData; throws with the offending entry named. */
export function parseRegistry(json: unknown, source = 'registry'): RegistryData {
  const d = json as RegistryData;
  if (!d || typeof d !== 'object' || d.version !== 1) fail(`${source}: not a vitalgate broker registry (expected "version": 1)`);
  const devices = d.devices ?? {};
  const gateways = d.gateways ?? {};
  if (typeof devices !== 'object' || typeof gateways !== 'object') fail(`${source}: devices and gateways must be objects`);
  for (const [id, e] of Object.entries(devices)) {
    const w = `${source}: device ${JSON.stringify(id)}`;
    assertValidId('device', id);
    assertValidId('patient', e.patient);
    if (!Array.isArray(e.streams) || !e.streams.every((s) => typeof s === 'string' && isStreamName(s))) fail(`${w}: streams must be a list of ${STREAM_NAMES.join(', ')}`);
    checkSecretHash(w, e.secret);
    if (Object.prototype.hasOwnProperty.call(gateways, id)) fail(`${w}: the same id is also a gateway`);
  }
  for (const [id, e] of Object.entries(gateways)) {
    const w = `${source}: gateway ${JSON.stringify(id)}`;
    assertValidId('gateway', id);
    if (!Array.isArray(e.patients) || e.patients.length === 0) fail(`${w}: patients must be a non-empty list`);
    for (const p of e.patients) assertValidId('patient', p);
    checkSecretHash(w, e.secret);
  }
  return { version: 1, devices, gateways };
}

export class Registry extends EventEmitter<{ revoked: [id: string, reason: string]; reloaded: [] }> {
  private data: RegistryData;

  constructor(data: RegistryData = emptyRegistry()) {
    super();
    this.data = parseRegistry(structuredClone(data));
  }

  /** Loads a registry file; a missing file is an empty registry only with `allowMissing`. */
  static async load(path: string, opts: { allowMissing?: boolean } = {}): Promise<Registry> {
    return new Registry(await readRegistryFile(path, opts));
  }

  toJSON(): RegistryData {
    return structuredClone(this.data);
  }

  async save(path: string): Promise<void> {
    await writeFileAtomic(path, JSON.stringify(this.data, null, 2) + '\n', { mode: 0o600, createDir: 0o700, syncDir: true });
  }

  get(id: string): Identity | undefined {
    const d = this.data.devices[id];
    if (d) return { kind: 'device', id, entry: d };
    const g = this.data.gateways[id];
    if (g) return { kind: 'gateway', id, entry: g };
    return undefined;
  }

  /** An identity that may connect now (exists and is not revoked). */
  active(id: string): Identity | undefined {
    const i = this.get(id);
    return i && !i.entry.revokedAt ? i : undefined;
  }

  list(): Identity[] {
    return [
      ...Object.entries(this.data.devices).map(([id, entry]) => ({ kind: 'device' as const, id, entry })),
      ...Object.entries(this.data.gateways).map(([id, entry]) => ({ kind: 'gateway' as const, id, entry })),
    ];
  }

  async addDevice(id: string, patient: string, streams: readonly string[] = STREAM_NAMES, opts: AddOptions = {}): Promise<Added> {
    assertValidId('device', id);
    assertValidId('patient', patient);
    if (streams.length === 0) fail('a device needs at least one stream');
    for (const s of streams) if (!isStreamName(s)) fail(`unknown stream "${s}" (known: ${STREAM_NAMES.join(', ')})`);
    this.checkFree(id, 'device', opts);
    const secret = newSecret();
    const entry: DeviceEntry = { patient, streams: [...new Set(streams)] as StreamName[], secret: await hashSecret(secret, opts.scrypt), createdAt: new Date().toISOString() };
    this.checkFree(id, 'device', opts); // again: another add may have finished while we hashed
    const had = this.data.devices[id];
    this.data.devices[id] = entry;
    if (had && !had.revokedAt) this.emit('revoked', id, 'replaced');
    return { id, secret };
  }

  async addGateway(id: string, patients: readonly string[], opts: AddOptions = {}): Promise<Added> {
    assertValidId('gateway', id);
    if (patients.length === 0) fail('a gateway needs at least one patient');
    for (const p of patients) assertValidId('patient', p);
    this.checkFree(id, 'gateway', opts);
    const secret = newSecret();
    const entry: GatewayEntry = { patients: [...new Set(patients)], secret: await hashSecret(secret, opts.scrypt), createdAt: new Date().toISOString() };
    this.checkFree(id, 'gateway', opts);
    const had = this.data.gateways[id];
    this.data.gateways[id] = entry;
    if (had && !had.revokedAt) this.emit('revoked', id, 'replaced');
    return { id, secret };
  }

  /** Revokes a credential; a connected client with this id is disconnected by the policy at once. */
  revoke(id: string, kind?: 'device' | 'gateway'): void {
    const i = this.get(id);
    if (!i || (kind && i.kind !== kind)) fail(`no ${kind ?? 'device or gateway'} ${JSON.stringify(id)} in the registry`);
    if (i.entry.revokedAt) return;
    i.entry.revokedAt = new Date().toISOString();
    this.emit('revoked', id, 'revoked');
  }

  /**
   * Replaces the contents (e.g. after the file changed on disk). Every id that was active and is
   * now gone, revoked, or different in any way (secret, patient, streams) counts as revoked.
   */
  replace(data: RegistryData): void {
    const next = parseRegistry(structuredClone(data));
    const before = this.list().filter((i) => !i.entry.revokedAt);
    this.data = next;
    for (const old of before) {
      const now = this.get(old.id);
      if (!now || now.kind !== old.kind || now.entry.revokedAt || JSON.stringify(now.entry) !== JSON.stringify(old.entry)) {
        this.emit('revoked', old.id, !now ? 'removed' : now.entry.revokedAt ? 'revoked' : 'changed');
      }
    }
    this.emit('reloaded');
  }

  /**
   * Reloads the file whenever it changes (watches the directory, since atomic writes replace the
   * file). A file that fails to parse is reported through onError and the current contents stay.
   */
  watchFile(path: string, onError: (e: Error) => void = () => undefined, debounceMs = 50): { close(): void } {
    let timer: NodeJS.Timeout | undefined;
    let last = JSON.stringify(this.data);
    const reload = (): void => {
      readRegistryFile(path).then((d) => {
        const s = JSON.stringify(d);
        if (s === last) return;
        last = s;
        this.replace(d);
      }, onError);
    };
    const w: FSWatcher = watch(dirname(path), (_ev, name) => {
      if (name !== null && name !== basename(path)) return;
      clearTimeout(timer);
      timer = setTimeout(reload, debounceMs);
    });
    w.on('error', onError);
    return { close: () => { clearTimeout(timer); w.close(); } };
  }

  private checkFree(id: string, kind: 'device' | 'gateway', opts: AddOptions): void {
    const i = this.get(id);
    if (!i) return;
    if (i.kind !== kind) fail(`${JSON.stringify(id)} is already a ${i.kind}; devices and gateways share one id namespace`);
    if (!opts.replace) fail(`${kind} ${JSON.stringify(id)} already exists${i.entry.revokedAt ? ' (revoked)' : ''}; pass --replace to issue a new secret`);
  }
}

export async function readRegistryFile(path: string, opts: { allowMissing?: boolean } = {}): Promise<RegistryData> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT' && opts.allowMissing) return emptyRegistry();
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') fail(`registry ${path} does not exist (create it with: vitalgate devices add …)`);
    throw e;
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    fail(`registry ${path} is not valid JSON: ${(e as Error).message}`);
  }
  return parseRegistry(json, path);
}
