/** The worked example of docs/ingest.md, byte for byte, and its verification. */
import assert from 'node:assert/strict';
import { Wallet, getBytes, verifyMessage } from 'ethers';
import { contentDigest, parseSignatureHeaders, signatureBase, signatureHeaders } from '@vitalgate/protocol';

const KEY = '0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d'; // anvil's public dev key 1
const PATH = '/v1/batches/0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef';
const QUERY = '?patient=patient-0001&patientAccount=0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC&stream=hr&device=strap-1&epoch=3&seq=0&firstTs=1796284800000&lastTs=1796284804000&count=5';
const PARAMS = { created: 1796284800, nonce: 'q1w2e3r4t5y6u7i8o9p0', keyid: '0x70997970C51812dc3A010C7d01b50e0d17dc79C8' };
const DIGEST = 'sha-256=:2xePcNRUo/HWSTsiV/XxABPV8ey2Y7Quq0313rYJwMw=:';
const INPUT = 'sig1=("@method" "@path" "@query" "content-digest");created=1796284800;nonce="q1w2e3r4t5y6u7i8o9p0";keyid="0x70997970C51812dc3A010C7d01b50e0d17dc79C8";alg="eip191-secp256k1"';
const SIGNATURE = 'sig1=:nIdWlc/FFVtJChodnM+Ssnt/JBw8jX0phyTLYWQ5ReEE3zNz3oCNWoUVL6u0zMDVp1ATkSP1v/M4Ub34zh5qyxs=:';

describe('request signature: the documented test vector', () => {
  it('digest, signature base and headers are exactly those of docs/ingest.md', async () => {
    const body = new TextEncoder().encode('example sealed batch bytes');
    assert.equal(contentDigest(body), DIGEST);
    const base = signatureBase({ method: 'PUT', path: PATH, query: QUERY, contentDigest: DIGEST }, PARAMS);
    assert.equal(base.split('\n').length, 5);
    const sig = getBytes(await new Wallet(KEY).signMessage(base));
    assert.deepEqual(signatureHeaders(PARAMS, sig), { 'signature-input': INPUT, signature: SIGNATURE });
  });

  it('parses back and recovers the keyid; any change to the request recovers another account', () => {
    const parsed = parseSignatureHeaders(INPUT, SIGNATURE);
    assert.ok(parsed.ok);
    const sigHex = `0x${Buffer.from(parsed.value.signature).toString('hex')}`;
    const base = signatureBase({ method: 'PUT', path: PATH, query: QUERY, contentDigest: DIGEST }, parsed.value.params);
    assert.equal(verifyMessage(base, sigHex), PARAMS.keyid);
    const tampered = signatureBase({ method: 'PUT', path: PATH, query: QUERY.replace('seq=0', 'seq=1'), contentDigest: DIGEST }, parsed.value.params);
    assert.notEqual(verifyMessage(tampered, sigHex), PARAMS.keyid);
  });

  it('malformed headers give a reason, never an exception', () => {
    for (const [i, s] of [[undefined, SIGNATURE], [INPUT, undefined], [INPUT.replace('sig1', 'sig2'), SIGNATURE], [INPUT.replace('eip191', 'rsa'), SIGNATURE],
      [INPUT.replace('"content-digest"', ''), SIGNATURE], [INPUT.replace('q1w2e3r4t5y6u7i8o9p0', 'short'), SIGNATURE], [INPUT, 'sig1=:AAAA:'], ['x'.repeat(10_000), SIGNATURE]] as Array<[unknown, unknown]>) {
      const r = parseSignatureHeaders(i, s);
      assert.equal(r.ok, false);
    }
  });
});
