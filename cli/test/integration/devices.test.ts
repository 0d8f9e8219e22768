import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { requireProgram } from '@vitalgate/test-support';
import { vitalgate } from '../cli.js';
import { startDaemon, type Daemon } from '../daemon.js';

describe('vitalgate devices / gateways (identity registry)', function () {
  this.timeout(60_000);
  let dir: string;
  let reg: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'vg-devices-'));
    reg = join(dir, 'state', 'broker-registry.json');
  });
  afterEach(async () => rm(dir, { recursive: true, force: true }));

  it('adds, lists and revokes; the secret is printed once and only its hash is stored (0600)', async () => {
    const a = await vitalgate(['devices', 'add', 'band-1', '--patient', 'pat-1', '--streams', 'hr,spo2', '--registry', reg]);
    assert.equal(a.code, 0, a.stderr);
    const secret = a.stdout.trim();
    assert.match(secret, /^[A-Za-z0-9_-]{43}$/, 'stdout is exactly the secret');
    assert.match(a.stderr, /shown only now/);
    const g = await vitalgate(['gateways', 'add', 'gw-1', '--patients', 'pat-1,pat-2', '--registry', reg]);
    assert.equal(g.code, 0, g.stderr);
    const text = await readFile(reg, 'utf8');
    assert.ok(!text.includes(secret) && !text.includes(g.stdout.trim()));
    assert.equal((await stat(reg)).mode & 0o777, 0o600);
    const saved = JSON.parse(text) as { devices: Record<string, { streams: string[]; secret: Record<string, unknown> }> };
    assert.deepEqual(saved.devices['band-1']?.streams, ['hr', 'spo2']);
    assert.equal(saved.devices['band-1']?.secret.alg, 'scrypt');
    assert.equal(saved.devices['band-1']?.secret.N, 32768);

    const dup = await vitalgate(['devices', 'add', 'band-1', '--patient', 'pat-1', '--registry', reg]);
    assert.equal(dup.code, 2);
    assert.match(dup.stderr, /already exists/);
    assert.equal(dup.stdout, '');
    const clash = await vitalgate(['gateways', 'add', 'band-1', '--patients', 'pat-1', '--registry', reg]);
    assert.equal(clash.code, 2);
    assert.match(clash.stderr, /already a device/);
    const bad = await vitalgate(['devices', 'add', 'x', '--patient', 'p', '--streams', 'hr,bogus', '--registry', reg]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /unknown stream "bogus"/);

    const l = await vitalgate(['devices', 'list', '--registry', reg, '--json']);
    assert.equal(l.code, 0, l.stderr);
    const rows = l.stdout.trim().split('\n').map((s) => JSON.parse(s) as Record<string, unknown>);
    assert.deepEqual(rows.map((r) => [r.id, r.patient, r.streams, r.revokedAt]), [['band-1', 'pat-1', ['hr', 'spo2'], undefined]]);
    assert.ok(!l.stdout.includes('hash'));

    const rv = await vitalgate(['devices', 'revoke', 'band-1', '--registry', reg]);
    assert.equal(rv.code, 0, rv.stderr);
    const l2 = await vitalgate(['devices', 'list', '--registry', reg]);
    assert.match(l2.stdout, /^band-1\tpatient=pat-1 streams=hr,spo2\tREVOKED /);
    const gl = await vitalgate(['gateways', 'list', '--registry', reg]);
    assert.match(gl.stdout, /^gw-1\tpatients=pat-1,pat-2\tactive\n$/);
    const wrongKind = await vitalgate(['gateways', 'revoke', 'band-1', '--registry', reg]);
    assert.equal(wrongKind.code, 2);
    assert.match(wrongKind.stderr, /no gateway "band-1"/);
  });

  it('explains the commands in --help', async () => {
    for (const [cmd, must] of [
      [['devices', 'add'], ['--patient', '--streams', '--registry', 'ONCE']],
      [['gateways', 'add'], ['--patients', '--registry']],
      [['broker'], ['--registry', 'loopback', 'Without --registry']],
    ] as const) {
      const r = await vitalgate([...cmd, '--help']);
      assert.equal(r.code, 0);
      for (const m of must) assert.ok(r.stdout.includes(m), `${cmd.join(' ')} --help lacks ${m}`);
    }
  });

  it('refuses a non-loopback bind without --registry', async () => {
    const r = await vitalgate(['broker', '--host', '0.0.0.0', '--port', '0']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /refusing to listen on 0\.0\.0\.0 without a registry/);
  });

  describe('vitalgate broker --registry with Mosquitto clients', () => {
    let pub: string;
    let sub: string;
    let daemon: Daemon | undefined;
    before(function () {
      pub = requireProgram(this, 'mosquitto_pub', 'mosquitto-clients');
      sub = requireProgram(this, 'mosquitto_sub', 'mosquitto-clients');
    });
    afterEach(async () => {
      await daemon?.stop();
      daemon = undefined;
    });

    /** mosquitto_sub with -d: resolves `ready` when its SUBACK arrived, `done` when it exits (killed after 20 s). */
    function subscribe(args: string[]) {
      // stdbuf: mosquitto_sub's debug lines are block-buffered on a pipe, and we wait for "Subscribed".
      const child = spawn('stdbuf', ['-oL', sub, '-d', '-v', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      let onReady: () => void = () => undefined;
      const ready = new Promise<void>((r) => (onReady = r));
      child.stdout.setEncoding('utf8').on('data', (d: string) => {
        out += d;
        if (/Subscribed \(mid: \d+\): 1/.test(out)) onReady();
      });
      child.stderr.setEncoding('utf8').on('data', (d: string) => (out += d));
      const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
      const done = new Promise<{ code: number | null; out: string }>((r) => child.once('close', (code) => { clearTimeout(timer); r({ code, out }); }));
      return { ready: Promise.race([ready, done.then((x) => { throw new Error(`mosquitto_sub ended early: ${x.out}`); })]), done, kill: () => child.kill('SIGKILL') };
    }

    it('authenticates against the registry, relays, and drops a device revoked from the CLI at once', async () => {
      const d = (await vitalgate(['devices', 'add', 'band-1', '--patient', 'pat-1', '--streams', 'hr', '--registry', reg])).stdout.trim();
      // clientId = username: one connection per identity, so the publisher and the revoked subscriber are two devices.
      const d2 = (await vitalgate(['devices', 'add', 'band-2', '--patient', 'pat-1', '--streams', 'hr', '--registry', reg])).stdout.trim();
      const g = (await vitalgate(['gateways', 'add', 'gw-1', '--patients', 'pat-1', '--registry', reg])).stdout.trim();
      daemon = await startDaemon(['broker', '--port', '0', '--registry', reg]);
      assert.equal(daemon.first.identity, true);
      const port = String(daemon.first.port);
      const as = (id: string, pw: string) => ['-h', '127.0.0.1', '-p', port, '-i', id, '-u', id, '-P', pw];

      const gw = subscribe([...as('gw-1', g), '-t', 'vg/v1/pat-1/+/+', '-q', '1', '-C', '1']);
      const dev = subscribe([...as('band-2', d2), '-t', 'vg/v1/pat-1/band-2/cmd', '-q', '1']);
      try {
        await Promise.all([gw.ready, dev.ready]);
        const p = spawn(pub, [...as('band-1', d), '-t', 'vg/v1/pat-1/band-1/hr', '-m', '{"bpm":70}', '-q', '1'], { stdio: 'ignore' });
        assert.equal(await new Promise((r) => p.once('close', r)), 0);
        const got = await gw.done;
        assert.match(got.out, /vg\/v1\/pat-1\/band-1\/hr \{"bpm":70\}/);

        const wrong = spawn(pub, [...as('band-1', 'guess'), '-t', 'vg/v1/pat-1/band-1/hr', '-m', 'x'], { stdio: ['ignore', 'ignore', 'pipe'] });
        let werr = '';
        wrong.stderr.setEncoding('utf8').on('data', (s: string) => (werr += s));
        assert.notEqual(await new Promise((r) => wrong.once('close', r)), 0);
        assert.match(werr, /bad user name or password/i);

        const t0 = performance.now();
        const rv = await vitalgate(['devices', 'revoke', 'band-2', '--registry', reg]);
        assert.equal(rv.code, 0, rv.stderr);
        const ended = await dev.done; // the broker reloads the file and closes the connection; the retry is refused
        assert.ok(performance.now() - t0 < 15_000);
        assert.match(ended.out, /bad user name or password/i);
        assert.match(daemon.stderr(), /"client":"band-2","reason":"revoked","msg":"credential no longer valid: disconnecting"/);
      } finally {
        gw.kill();
        dev.kill();
      }
    });
  });
});
