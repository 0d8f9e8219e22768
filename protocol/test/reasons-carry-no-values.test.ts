/**
 * Rejection reasons are logged, so they must never carry a reading's value: a vital sign in a log
 * is plaintext outside the trust boundary. Each payload below hides a distinctive number; no
 * reason may contain it.
 */
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { decodePayload, encodeCbor, STREAMS, type StreamName } from '../src/index.js';

const te = new TextEncoder();
const scalarStreams = (Object.keys(STREAMS) as StreamName[]).filter((s) => STREAMS[s].kind === 'scalar');

function reasonOf(stream: StreamName, bytes: Uint8Array): string {
  const r = decodePayload(stream, bytes);
  assert.equal(r.ok, false, 'the payload was meant to be refused');
  return r.ok ? '' : r.reason;
}

describe('rejection reasons carry no reading values', () => {
  it('an out-of-range component names the field and its bounds, not the value', () => {
    const r = reasonOf('hr', te.encode('{"seq":1,"ts":1764547200000,"values":{"hr":987.654321}}'));
    assert.match(r, /^hr is outside \d+\.\.\d+ /);
    assert.ok(!r.includes('987'), r);
  });

  it('malformed JSON gives a position, not the text around it', () => {
    // V8 quotes about ten characters before the bad token: "...242.5,"a":undefined}}" is not valid JSON.
    const r = reasonOf('hr', te.encode('{"seq":1,"values":{"hr":424242.5,"a":undefined}}'));
    assert.match(r, /^malformed JSON( at byte \d+)?$/);
    assert.ok(!r.includes('242.5'), r);
  });

  it('malformed CBOR (trailing bytes after a map holding a value) gives the class only', () => {
    const map = encodeCbor({ seq: 1, ts: 1764547200000, values: { hr: 313131.5 } });
    const r = reasonOf('hr', new Uint8Array([...map, 0x01]));
    assert.match(r, /^malformed CBOR/);
    assert.ok(!r.includes('313131'), r);
  });

  it('property: for any scalar stream, an out-of-range or timestamp-out-of-range value never appears in the reason', () => {
    fc.assert(fc.property(
      fc.constantFrom(...scalarStreams),
      fc.double({ min: 100_000.0001, max: 1e9, noNaN: true }),
      fc.boolean(),
      fc.boolean(),
      (stream, big, badTs, cbor) => {
        const spec = STREAMS[stream];
        if (spec.kind !== 'scalar') return;
        const [comp] = Object.keys(spec.components);
        const value = Number(big.toFixed(4));
        const ts = badTs ? 91_234_567_890_123 : 1764547200000;
        const body = { seq: 7, ts, values: { [comp!]: badTs ? 1 : value } };
        const bytes = cbor ? encodeCbor(body) : te.encode(JSON.stringify(body));
        const r = decodePayload(stream, bytes);
        if (r.ok) return;
        const hidden = badTs ? String(ts) : String(value);
        assert.ok(!r.reason.includes(hidden.slice(0, 6)), `${stream}: "${r.reason}" carries ${hidden}`);
      },
    ), { numRuns: 500 });
  });
});
