/**
 * aedes-persistence's abstract test suite (the one every aedes persistence plugin runs, e.g.
 * aedes-persistence-redis) against our MemoryPersistence, under mocha.
 *
 * The suite is written for node:test: it calls `test(name, async t => …)` and uses t.plan,
 * t.assert and t.diagnostic. The adapter below registers each as a mocha `it` and gives it a `t`
 * whose assertions are node:assert's (node:test's t.assert uses the same, non-strict, module) and
 * are counted against t.plan, as node:test does.
 */
import nodeAssert from 'node:assert';
import { createRequire } from 'node:module';
import { MemoryPersistence } from '../../src/persistence/memory.js';

interface TestContext {
  plan(n: number): void;
  assert: typeof nodeAssert;
  diagnostic(msg: string): void;
}
type AbstractSuite = (opts: {
  test: (name: string, fn: (t: TestContext) => Promise<void>) => void;
  persistence: () => unknown;
  testAsync?: boolean;
  waitForReady?: boolean;
}) => void;

const require = createRequire(import.meta.url);
const abstractSuite = require('aedes-persistence/abstract.js') as AbstractSuite;
const { CallBackPersistence } = require('aedes-persistence/callBackPersistence.js') as {
  CallBackPersistence: new (factory: (opts: object) => unknown, opts?: object) => unknown;
};

function mochaTest(name: string, fn: (t: TestContext) => Promise<void>): void {
  it(name, async () => {
    let planned: number | undefined;
    let count = 0;
    const counted = new Proxy(nodeAssert, {
      get(target, prop, receiver) {
        const v: unknown = Reflect.get(target, prop, receiver);
        if (typeof v !== 'function') return v;
        return (...args: unknown[]) => {
          count++;
          return (v as (...a: unknown[]) => unknown).apply(target, args);
        };
      },
    });
    await fn({ plan: (n) => void (planned = n), assert: counted, diagnostic: () => undefined });
    if (planned !== undefined) nodeAssert.equal(count, planned, `planned ${planned} assertions, ran ${count}`);
  });
}

describe('aedes-persistence abstract suite: MemoryPersistence, promise API (as aedes 1.x uses it)', () => {
  abstractSuite({ test: mochaTest, persistence: () => new MemoryPersistence(), testAsync: true });
});

describe('aedes-persistence abstract suite: MemoryPersistence behind CallBackPersistence, broadcast subscriptions', () => {
  abstractSuite({
    test: mochaTest,
    persistence: () => new CallBackPersistence((opts) => new MemoryPersistence(opts), { broadcastSubscriptions: true }),
    waitForReady: true,
  });
});
