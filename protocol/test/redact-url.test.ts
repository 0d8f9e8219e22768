import assert from 'node:assert/strict';
import fc from 'fast-check';
import { redactUrl } from '../src/index.js';

describe('redactUrl', () => {
  it('hides a password in userinfo and keeps the rest', () => {
    assert.equal(redactUrl('mqtt://dev:s3cret@127.0.0.1:1883/'), 'mqtt://dev:***@127.0.0.1:1883/');
    assert.equal(redactUrl('https://user:p%40ss@rpc.example.org/v1'), 'https://user:***@rpc.example.org/v1');
    assert.equal(redactUrl('redis://:hunter2@10.0.0.5:6379'), 'redis://:***@10.0.0.5:6379');
  });

  it('hides secret-looking query parameters (chain RPC keys, presigned S3 URLs) and keeps others', () => {
    assert.equal(redactUrl('https://rpc.example.org/?apikey=abc123&chain=1'), 'https://rpc.example.org/?apikey=***&chain=1');
    const s3 = redactUrl('https://s3.local/b/o?X-Amz-Credential=AKIA1%2F2&X-Amz-Signature=deadbeef&X-Amz-Expires=60');
    assert.ok(!s3.includes('deadbeef') && !s3.includes('AKIA1'), s3);
    assert.ok(s3.includes('X-Amz-Expires=60'));
  });

  it('leaves URLs without secrets unchanged', () => {
    for (const u of ['mqtt://127.0.0.1:1883', 'http://127.0.0.1:8545', 'ble-sim://127.0.0.1:7001']) assert.equal(redactUrl(u), new URL(u).toString());
  });

  it('hides userinfo even in strings that do not parse as URLs', () => {
    assert.equal(redactUrl('mqtt://dev:s3cret@[bad'), 'mqtt://***@[bad');
  });

  it('property: never throws, and never returns a password it was given', () => {
    const word = fc.stringMatching(/^[A-Za-z0-9]{6,16}$/);
    fc.assert(fc.property(fc.constantFrom('mqtt', 'mqtts', 'ws', 'wss', 'http', 'https', 'redis'), word, word, fc.string(), (scheme, user, pass, junk) => {
      const r = redactUrl(`${scheme}://${user}:${pass}@host.example:1234/${junk}`);
      assert.ok(!r.includes(`:${pass}@`), r);
      redactUrl(junk);
    }), { numRuns: 300 });
  });
});
