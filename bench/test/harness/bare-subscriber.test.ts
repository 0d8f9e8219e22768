import assert from 'node:assert/strict';
import mqtt from 'mqtt';
import { startBroker } from '@vitalgate/broker';
import { encodeBody, readingTopic } from '@vitalgate/protocol';
import { Child } from '../../src/harness/child.js';
import { BARE_SUBSCRIBER } from '../../src/harness/launchers.js';

describe('bench', () => {
  describe('bare subscriber', function () {
    this.timeout(20_000);
    it('counts readings, tells the marker apart, and reports on request', async () => {
      const broker = await startBroker({ port: 0 });
      const marker = readingTopic('bench-marker', 'm', 'ecg');
      const sub = new Child('bare-subscriber', BARE_SUBSCRIBER, ['--broker', broker.url, '--marker-topic', marker], () => undefined, { stdin: true });
      const pub = await mqtt.connectAsync(broker.url, { clientId: 'bench-test-pub' });
      try {
        await sub.waitFor('ready', 10_000);
        const payload = Buffer.from(encodeBody({ seq: 0, ts: Date.now(), values: { hr: 60 } }, 'cbor'));
        for (let i = 0; i < 20; i++) await pub.publishAsync(readingTopic('p1', 'd1', 'hr'), payload, { qos: 1 });
        await pub.publishAsync(marker, payload, { qos: 1 });
        let r: Record<string, unknown> = {};
        for (let tries = 0; tries < 100; tries++) {
          const next = sub.waitFor('report', 5000);
          sub.send('report');
          r = await next;
          if (r.markerAt !== null) break;
          await new Promise((res) => setTimeout(res, 20));
        }
        assert.equal(r.count, 20);
        assert.equal(typeof r.lastAt, 'number');
        assert.equal(typeof r.markerAt, 'number');
        const final = sub.waitFor('final', 5000);
        sub.send('exit');
        assert.equal((await final).count, 20);
        assert.equal((await sub.exited).code, 0);
      } finally {
        await pub.endAsync(true);
        await sub.stop(2000);
        await broker.close();
      }
    });
  });
});
