/**
 * The durable file persistence: aedes-persistence's abstract suite (as for MemoryPersistence), then
 * restarts: after any sequence of operations, closing and reopening the directory gives back the
 * same state as an in-memory store that saw the same operations; a torn last record is dropped;
 * online compaction keeps the state; one broker per directory.
 */
import assert from 'node:assert';
import { appendFile, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import mqtt from 'mqtt';
import { startBroker } from '../../../src/broker.js';
import { FilePersistence, openFilePersistence } from '../../../src/persistence/file/index.js';
import { MemoryPersistence, type AedesAsyncPersistence, type PersistedPacket } from '../../../src/persistence/memory.js';

interface TestContext {
  plan(n: number): void;
  assert: typeof assert;
  diagnostic(msg: string): void;
}
type AbstractSuite = (opts: { test: (name: string, fn: (t: TestContext) => Promise<void>) => void; persistence: () => unknown; testAsync?: boolean }) => void;
const require = createRequire(import.meta.url);
const abstractSuite = require('aedes-persistence/abstract.js') as AbstractSuite;

/** Registers a node:test-style test of the abstract suite as a mocha test, counting t.plan. */
function asMochaTest(name: string, fn: (t: TestContext) => Promise<void>): void {
  it(name, async () => {
    let planned: number | undefined;
    let ran = 0;
    const counting = new Proxy(assert, {
      get(target, prop) {
        const v = Reflect.get(target, prop) as unknown;
        return typeof v === 'function' ? (...a: unknown[]) => (ran++, (v as (...x: unknown[]) => unknown).apply(target, a)) : v;
      },
    });
    await fn({ plan: (n) => void (planned = n), assert: counting, diagnostic: () => undefined });
    if (planned !== undefined) assert.equal(ran, planned, `planned ${planned} assertions, ran ${ran}`);
  });
}

const dirs: string[] = [];
async function freshDir(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'vg-journal-'));
  dirs.push(d);
  return d;
}
after(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

describe('aedes-persistence abstract suite: FilePersistence (durable journal)', () => {
  abstractSuite({ test: asMochaTest, persistence: async () => openFilePersistence({ dir: await freshDir() }), testAsync: true });
});

// ---- restart equivalence -------------------------------------------------------------------

const CLIENTS = ['gw', 'gw2', 'dev'];
const TOPICS = ['vg/v1/p/d/hr', 'vg/v1/p/d/ecg', 'vg/v1/q/d/hr', '$SYS/x', 'a//b'];
const FILTERS = ['vg/v1/p/+/+', 'vg/v1/#', 'vg/v1/q/d/hr', '#', 'a//b'];

type Op =
  | { k: 'retain'; topic: string; empty: boolean }
  | { k: 'sub'; c: string; filter: string; qos: number }
  | { k: 'unsub'; c: string; filter: string }
  | { k: 'clean'; c: string }
  | { k: 'enq'; cs: string[]; counter: number }
  | { k: 'send'; c: string; nth: number; mid: number }
  | { k: 'pubrel'; c: string; mid: number }
  | { k: 'ack'; c: string; mid: number }
  | { k: 'drop'; c: string; nth: number }
  | { k: 'inStore'; c: string; mid: number }
  | { k: 'inDel'; c: string; mid: number }
  | { k: 'inClean'; c: string }
  | { k: 'will'; c: string; n: number }
  | { k: 'delWill'; c: string };

const client = fc.constantFrom(...CLIENTS);
const mid = fc.integer({ min: 1, max: 6 });
const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ k: fc.constant('retain' as const), topic: fc.constantFrom(...TOPICS), empty: fc.boolean() }),
  fc.record({ k: fc.constant('sub' as const), c: client, filter: fc.constantFrom(...FILTERS), qos: fc.integer({ min: 0, max: 2 }) }),
  fc.record({ k: fc.constant('unsub' as const), c: client, filter: fc.constantFrom(...FILTERS) }),
  fc.record({ k: fc.constant('clean' as const), c: client }),
  { arbitrary: fc.record({ k: fc.constant('enq' as const), cs: fc.subarray(CLIENTS, { minLength: 1 }), counter: fc.integer({ min: 1, max: 8 }) }), weight: 4 },
  { arbitrary: fc.record({ k: fc.constant('send' as const), c: client, nth: fc.nat(5), mid }), weight: 3 },
  fc.record({ k: fc.constant('pubrel' as const), c: client, mid }),
  { arbitrary: fc.record({ k: fc.constant('ack' as const), c: client, mid }), weight: 2 },
  fc.record({ k: fc.constant('drop' as const), c: client, nth: fc.nat(5) }),
  fc.record({ k: fc.constant('inStore' as const), c: client, mid }),
  fc.record({ k: fc.constant('inDel' as const), c: client, mid }),
  fc.record({ k: fc.constant('inClean' as const), c: client }),
  fc.record({ k: fc.constant('will' as const), c: client, n: fc.nat(3) }),
  fc.record({ k: fc.constant('delWill' as const), c: client }),
);

const pub = (counter: number, brokerId = 'b1'): PersistedPacket => ({
  cmd: 'publish',
  brokerId,
  brokerCounter: counter,
  topic: TOPICS[counter % TOPICS.length]!,
  payload: Buffer.from(`m${counter}`),
  qos: 1 + (counter % 2),
  retain: false,
  dup: false,
});

async function queue(p: AedesAsyncPersistence, id: string): Promise<PersistedPacket[]> {
  const out: PersistedPacket[] = [];
  for await (const x of p.outgoingStream({ id })) out.push(x as PersistedPacket);
  return out;
}

/** Applies one op the way aedes would, ignoring the errors aedes would also see. */
async function apply(p: AedesAsyncPersistence, op: Op): Promise<void> {
  const ignore = (x: Promise<unknown>) => x.then(() => undefined, () => undefined);
  switch (op.k) {
    case 'retain':
      return p.storeRetained({ cmd: 'publish', topic: op.topic, payload: op.empty ? Buffer.alloc(0) : Buffer.from(op.topic), qos: 0, retain: true, brokerId: 'b1', brokerCounter: 0 });
    case 'sub':
      return p.addSubscriptions({ id: op.c }, [{ topic: op.filter, qos: op.qos }]);
    case 'unsub':
      return p.removeSubscriptions({ id: op.c }, [op.filter]);
    case 'clean':
      return p.cleanSubscriptions({ id: op.c });
    case 'enq':
      return p.outgoingEnqueueCombi(op.cs.map((clientId) => ({ clientId })), pub(op.counter));
    case 'send': {
      // aedes sending a queued packet: record the packet id it assigned.
      const q = await queue(p, op.c);
      const target = q[op.nth % Math.max(1, q.length)];
      if (target && target.brokerId !== undefined) await ignore(p.outgoingUpdate({ id: op.c }, { ...target, messageId: op.mid }));
      return;
    }
    case 'pubrel':
      return ignore(p.outgoingUpdate({ id: op.c }, { cmd: 'pubrel', messageId: op.mid }));
    case 'ack':
      return ignore(p.outgoingClearMessageId({ id: op.c }, { cmd: 'puback', messageId: op.mid }));
    case 'drop': {
      // aedes not forwarding a message (duplicate): clear by identity, no packet id.
      const q = await queue(p, op.c);
      const target = q[op.nth % Math.max(1, q.length)];
      if (target && target.brokerId !== undefined) await ignore(p.outgoingClearMessageId({ id: op.c }, { brokerId: target.brokerId, brokerCounter: target.brokerCounter }));
      return;
    }
    case 'inStore':
      return p.incomingStorePacket({ id: op.c }, { ...pub(op.mid), messageId: op.mid });
    case 'inDel':
      return ignore(p.incomingDelPacket({ id: op.c }, { messageId: op.mid }));
    case 'inClean':
      return p.cleanIncoming({ id: op.c });
    case 'will':
      return p.putWill({ id: op.c }, { cmd: 'publish', topic: `will/${op.c}`, payload: Buffer.from(`w${op.n}`), qos: 1, retain: false });
    case 'delWill':
      return ignore(p.delWill({ id: op.c }));
  }
}

const plain = (x: unknown): unknown => JSON.parse(JSON.stringify(x, (_k, v: unknown) => (v === undefined ? '<undef>' : v)));

/** Everything observable through the persistence API, as plain data. */
async function observe(p: AedesAsyncPersistence): Promise<unknown> {
  const arr = async (s: AsyncIterable<unknown>) => {
    const out: unknown[] = [];
    for await (const x of s) out.push(x);
    return out;
  };
  const state: Record<string, unknown> = {};
  for (const c of CLIENTS) {
    state[`subs:${c}`] = await p.subscriptionsByClient({ id: c });
    state[`queue:${c}`] = await queue(p, c);
    state[`will:${c}`] = (await p.getWill({ id: c })) ?? null;
    const inc: unknown[] = [];
    for (let m = 1; m <= 6; m++) inc.push(await p.incomingGetPacket({ id: c }, { messageId: m }).catch(() => null));
    state[`in:${c}`] = inc;
  }
  for (const t of TOPICS) state[`byTopic:${t}`] = (await p.subscriptionsByTopic(t)).map((s) => `${s.clientId} ${s.topic} ${s.qos}`).sort();
  state.retained = ((await arr(p.createRetainedStream('#'))) as PersistedPacket[]).map((r) => r.topic).sort();
  for (const t of TOPICS) state[`ret:${t}`] = await arr(p.createRetainedStream(t));
  state.count = await p.countOffline();
  return plain(state);
}

const broker = (id: string) => ({ id });

describe('FilePersistence across restarts', function () {
  this.timeout(60_000);

  it('reopening gives back exactly the state an in-memory store has after the same operations (random sequences)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(opArb, { maxLength: 60 }), fc.integer({ min: 0, max: 60 }), async (ops, restartAt) => {
        const dir = await freshDir();
        const mem = new MemoryPersistence();
        await mem.setup(broker('b1'));
        let file = await openFilePersistence({ dir, fsync: false });
        await file.setup(broker('b1'));
        for (const [i, op] of ops.entries()) {
          if (i === restartAt) {
            // A restart midway: later operations go to the reopened (compacted) journal.
            await file.destroy();
            file = await openFilePersistence({ dir, fsync: false });
            await file.setup(broker('b2'));
            await mem.setup(broker('b2')); // wills stored from now on carry the new broker's id
          }
          await apply(mem, op);
          await apply(file, op);
        }
        await file.destroy();
        const reopened = await openFilePersistence({ dir, fsync: false });
        try {
          assert.deepStrictEqual(await observe(reopened), await observe(mem));
        } finally {
          await reopened.destroy();
          await rm(dir, { recursive: true, force: true });
        }
      }),
      { numRuns: 150 },
    );
  });

  it('keeps wills under the broker that stored them (so a restarted broker publishes them)', async () => {
    const dir = await freshDir();
    const p = await openFilePersistence({ dir });
    await p.setup(broker('old-broker'));
    await p.putWill({ id: 'dev' }, { cmd: 'publish', topic: 'vg/v1/p/dev/status', payload: Buffer.from('offline'), qos: 1, retain: false });
    await p.destroy();
    const q = await openFilePersistence({ dir });
    await q.setup(broker('new-broker'));
    const wills: PersistedPacket[] = [];
    for await (const w of q.streamWill({ 'new-broker': true })) wills.push(w as PersistedPacket);
    assert.equal(wills.length, 1);
    assert.equal(wills[0]!.brokerId, 'old-broker');
    await q.destroy();
  });

  it('drops a torn last record (a crash mid-write) and keeps everything before it', async () => {
    const dir = await freshDir();
    const p = await openFilePersistence({ dir });
    await p.setup(broker('b1'));
    await p.addSubscriptions({ id: 'gw' }, [{ topic: 'vg/v1/#', qos: 1 }]);
    for (let i = 1; i <= 10; i++) await p.outgoingEnqueueCombi([{ clientId: 'gw' }], pub(i));
    await p.destroy();
    const path = join(dir, 'journal');
    const whole = await readFile(path);
    // Half a record: a length that promises more bytes than follow.
    await appendFile(path, Buffer.from([200, 0, 0, 0, 1, 2, 3, 4, 5, 6]));
    const q = await openFilePersistence({ dir });
    assert.equal((await queue(q, 'gw')).length, 10);
    await q.destroy();
    // A flipped byte inside the last record: it fails its CRC and is dropped, the rest survives.
    const damaged = Buffer.from(whole);
    damaged[damaged.length - 3] = damaged[damaged.length - 3]! ^ 0xff;
    await writeFile(path, damaged);
    const r = await openFilePersistence({ dir });
    assert.deepEqual((await queue(r, 'gw')).map((x) => x.brokerCounter), [1, 2, 3, 4, 5, 6, 7, 8, 9]);
    await r.destroy();
  });

  it('compacts online while writes go on, and the state survives', async () => {
    const dir = await freshDir();
    const p = await openFilePersistence({ dir, compactBytes: 64 * 1024, fsync: false });
    await p.setup(broker('b1'));
    await p.addSubscriptions({ id: 'gw' }, [{ topic: 'vg/v1/#', qos: 1 }]);
    let maxSize = 0;
    // A steady state: each message is enqueued, sent and acknowledged; 50 stay queued at the end.
    for (let i = 1; i <= 3000; i++) {
      await p.outgoingEnqueueCombi([{ clientId: 'gw' }], pub(i));
      if (i <= 2950) {
        await p.outgoingUpdate({ id: 'gw' }, { ...pub(i), messageId: (i % 60000) + 1 });
        await p.outgoingClearMessageId({ id: 'gw' }, { cmd: 'puback', messageId: (i % 60000) + 1 });
      }
      maxSize = Math.max(maxSize, p.journalBytes());
    }
    await p.destroy();
    const size = (await stat(join(dir, 'journal'))).size;
    assert.ok(maxSize < 4 * 64 * 1024 + 64 * 1024, `journal stayed bounded (max ${maxSize} bytes)`);
    const q = await openFilePersistence({ dir });
    assert.deepEqual((await queue(q, 'gw')).map((x) => x.brokerCounter), Array.from({ length: 50 }, (_, i) => 2951 + i));
    assert.deepEqual(await q.subscriptionsByClient({ id: 'gw' }), [{ topic: 'vg/v1/#', qos: 1, rh: undefined, rap: undefined, nl: undefined }]);
    assert.ok(size < 64 * 1024, `journal ${size} bytes after the run`);
    await q.destroy();
  });

  it('refuses a second broker on the same directory, and takes over a lock left by a dead process', async () => {
    const dir = await freshDir();
    const p = await openFilePersistence({ dir });
    await assert.rejects(openFilePersistence({ dir }), /already open in this process/);
    await p.destroy();
    // A LOCK naming a pid that does not exist any more (a SIGKILLed broker).
    await writeFile(join(dir, 'LOCK'), '999999999');
    const q = await openFilePersistence({ dir });
    assert.ok(q instanceof FilePersistence);
    await q.destroy();
  });

  it('under a running broker: delivers live, and redelivers the offline backlog in order after the broker is reopened', async () => {
    const dir = await freshDir();
    const got: number[] = [];
    let p = await openFilePersistence({ dir });
    let b = await startBroker({ port: 0, persistence: p });
    const port = b.port;
    const gw = await mqtt.connectAsync(b.url, { clientId: 'gw', clean: false, reconnectPeriod: 0 });
    gw.on('message', (_t, m) => got.push(Number(m.toString())));
    await gw.subscribeAsync('vg/v1/p/+/+', { qos: 1 });
    const dev = await mqtt.connectAsync(b.url, { clientId: 'dev', reconnectPeriod: 0 });
    for (let i = 0; i < 20; i++) await dev.publishAsync('vg/v1/p/dev/hr', String(i), { qos: 1 });
    for (let t = 0; got.length < 20 && t < 100; t++) await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual(got, Array.from({ length: 20 }, (_, i) => i), 'live, in order');
    await gw.endAsync();
    for (let i = 20; i < 50; i++) await dev.publishAsync('vg/v1/p/dev/hr', String(i), { qos: 1 });
    await dev.endAsync(true);
    await b.close();
    await p.destroy();

    p = await openFilePersistence({ dir });
    b = await startBroker({ port, persistence: p });
    try {
      const again: number[] = [];
      const gw2 = mqtt.connect(b.url, { clientId: 'gw', clean: false, reconnectPeriod: 0 });
      gw2.on('message', (_t, m) => again.push(Number(m.toString())));
      for (let t = 0; again.length < 30 && t < 200; t++) await new Promise((r) => setTimeout(r, 20));
      assert.deepEqual(again, Array.from({ length: 30 }, (_, i) => 20 + i), 'the backlog, in order');
      await gw2.endAsync();
    } finally {
      await b.close();
      await p.destroy();
    }
  });
});
