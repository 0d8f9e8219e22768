/**
 * Read commands as a newcomer meets them: piped into `head`, run where there is no data, and
 * narrowed with --patient/--device/--stream/--from/--to.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { cp, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MAIN, vitalgate } from '../cli.js';

const record100 = fileURLToPath(new URL('../../../../../shared/data/physionet/100.hea', import.meta.url));
const STACK = /\n\s+at |Unhandled 'error'|EPIPE/;

interface Piped { code: number | null; signal: NodeJS.Signals | null; firstLine: string; stderr: string }

/**
 * Runs the CLI with stdout on a pipe whose reader goes away: after the first line (as `head -1`
 * does), or before anything is written (`closeAt: 'start'`), which makes the first write fail.
 */
function piped(args: string[], closeAt: 'first-line' | 'start', cwd?: string): Promise<Piped> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [MAIN, ...args], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    if (closeAt === 'start') child.stdout.destroy();
    else {
      child.stdout.setEncoding('utf8').on('data', (d: string) => {
        out += d;
        if (out.includes('\n')) child.stdout.destroy();
      });
    }
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`vitalgate ${args.join(' ')} did not end after its reader left`)); }, 60_000);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, firstLine: out.split('\n')[0]!, stderr });
    });
  });
}

/** `vitalgate …` in a shell pipeline, exactly as the README shows it. */
function shellHead(args: string[], dir: string): Promise<{ status: string; stdout: string; stderr: string }> {
  const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
  const cmd = `${q(process.execPath)} ${q(MAIN)} ${args.map(q).join(' ')} 2>${q(join(dir, 'err'))}; echo $? >${q(join(dir, 'status'))}`;
  return new Promise((resolve, reject) => {
    const child = spawn('sh', ['-c', `(${cmd}) | head -1`], { stdio: ['ignore', 'pipe', 'inherit'] });
    let stdout = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.on('error', reject);
    child.on('close', async () => resolve({ status: (await readFile(join(dir, 'status'), 'utf8')).trim(), stdout, stderr: await readFile(join(dir, 'err'), 'utf8') }));
  });
}

interface Line { patientId: string; deviceId: string; stream: string; ts: number; seq: number; batchId: string }
const lines = (stdout: string): Line[] => stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Line);

describe('read commands (open, verify) as a newcomer runs them', function () {
  this.timeout(120_000);
  let root: string;
  let data: string;
  let pass: string;
  let all: Line[];
  const open = (...extra: string[]) => vitalgate(['open', '--data-dir', data, '--passphrase-file', pass, '--json', ...extra]);

  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'vitalgate-read-'));
    data = join(root, 'data');
    pass = join(root, 'pass');
    await writeFile(pass, 'read commands test passphrase\n', { mode: 0o600 });
    const r = await vitalgate(['run', '--no-chain', '--devices', '3', '--duration', '4', '--data-dir', data, '--passphrase-file', pass]);
    assert.equal(r.code, 0, r.stderr);
    const o = await open();
    assert.equal(o.code, 0, o.stderr);
    all = lines(o.stdout);
    assert.ok(new Set(all.map((l) => l.patientId)).size === 3 && all.length > 50, `expected readings of 3 patients, got ${all.length}`);
  });
  after(() => rm(root, { recursive: true, force: true }));

  describe('a reader that closes the pipe ends the command quietly, status 0', () => {
    it('open | head -1 (a shell pipeline, as in the README)', async () => {
      const r = await shellHead(['open', '--data-dir', data, '--passphrase-file', pass], root);
      assert.equal(r.status, '0', r.stderr);
      assert.doesNotMatch(r.stderr, STACK);
      assert.match(r.stdout, /patient-000\d/);
    });
    it('open --json, reader gone after the first line', async () => {
      const r = await piped(['open', '--data-dir', data, '--passphrase-file', pass, '--json'], 'first-line');
      assert.deepEqual([r.code, r.signal], [0, null], r.stderr);
      assert.doesNotMatch(r.stderr, STACK);
      assert.equal(JSON.parse(r.firstLine).patientId.startsWith('patient-'), true);
    });
    for (const args of [
      ['ecg', 'rpeaks', record100, '--signal', '0'],
      ['wfdb', 'info', record100],
      ['decode', 'gatt', '2a37', '1e5532002100'],
      ['open', '--data-dir', 'DATA', '--passphrase-file', 'PASS'],
      ['--help'],
    ]) {
      it(`${args.slice(0, 2).join(' ')}, reader gone before the first write`, async () => {
        const r = await piped(args.map((a) => (a === 'DATA' ? data : a === 'PASS' ? pass : a)), 'start');
        assert.deepEqual([r.code, r.signal], [0, null], r.stderr);
        assert.doesNotMatch(r.stderr, STACK);
      });
    }
  });

  describe('where there is no data directory', () => {
    for (const cmd of [['open'], ['open', '--from-ingest'], ['verify'], ['verify', '--from-ingest']]) {
      it(`${cmd.join(' ')} says so, exits 1 and creates nothing`, async () => {
        const empty = await mkdtemp(join(tmpdir(), 'vitalgate-empty-'));
        try {
          const r = await piped([...cmd, '--allow-demo-passphrase'], 'first-line', empty);
          assert.equal(r.code, 1, r.stderr);
          assert.match(r.stderr, /no Vitalgate data directory at .*\.vitalgate/);
          assert.ok(r.stderr.includes(join(empty, '.vitalgate')), r.stderr);
          assert.match(r.stderr, /npm start/);
          assert.doesNotMatch(r.stderr, STACK);
          assert.deepEqual(await readdir(empty), []);
          const named = join(empty, 'elsewhere');
          const r2 = await vitalgate([...cmd, '--data-dir', named, '--allow-demo-passphrase']);
          assert.equal(r2.code, 1, r2.stderr);
          assert.ok(r2.stderr.includes(named), r2.stderr);
          assert.deepEqual(await readdir(empty), []);
        } finally {
          await rm(empty, { recursive: true, force: true });
        }
      });
    }
    it('an empty directory named by --data-dir stays empty', async () => {
      const empty = await mkdtemp(join(tmpdir(), 'vitalgate-empty-'));
      try {
        for (const cmd of ['open', 'verify']) {
          const r = await vitalgate([cmd, '--data-dir', empty, '--allow-demo-passphrase']);
          assert.equal(r.code, 1, r.stderr);
          assert.match(r.stderr, /no Vitalgate data directory/);
        }
        assert.deepEqual(await readdir(empty), []);
      } finally {
        await rm(empty, { recursive: true, force: true });
      }
    });
  });

  describe('filters', () => {
    const only = (f: (l: Line) => boolean) => all.filter(f).map((l) => `${l.batchId}/${l.seq}`).sort();
    const got = (stdout: string) => lines(stdout).map((l) => `${l.batchId}/${l.seq}`).sort();

    it('--patient, --device and --stream select exactly the readings they name', async () => {
      const p = all[0]!.patientId;
      let r = await open('--patient', p);
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(got(r.stdout), only((l) => l.patientId === p));
      const devices = [...new Set(all.map((l) => l.deviceId))].slice(0, 2);
      r = await open('--device', devices.join(','), '--stream', 'hr', '--stream', 'spo2');
      assert.equal(r.code, 0, r.stderr);
      const want = only((l) => devices.includes(l.deviceId) && (l.stream === 'hr' || l.stream === 'spo2'));
      assert.ok(want.length > 0);
      assert.deepEqual(got(r.stdout), want);
      r = await open('--patient', 'nobody');
      assert.deepEqual([r.code, r.stdout], [0, '']);
      assert.match(r.stderr, /0 batches opened, 0 readings, 0 failures/);
    });

    it('--from/--to: ISO times and times relative to now', async () => {
      const ts = [...new Set(all.filter((l) => l.stream === 'hr').map((l) => l.ts))].sort((a, b) => a - b);
      const from = ts[1]!;
      const to = ts[ts.length - 2]!;
      const r = await open('--stream', 'hr', '--from', new Date(from).toISOString(), '--to', new Date(to).toISOString());
      assert.equal(r.code, 0, r.stderr);
      const want = only((l) => l.stream === 'hr' && l.ts >= from && l.ts <= to);
      assert.ok(want.length > 0 && want.length < only((l) => l.stream === 'hr').length);
      assert.deepEqual(got(r.stdout), want);
      const recent = await open('--from', '-1d');
      assert.equal(lines(recent.stdout).length, all.length);
      const old = await open('--to', '-1h');
      assert.deepEqual([old.code, old.stdout], [0, '']);
    });

    it('reads only the batches it needs: a damaged batch of another patient goes unnoticed, and is reported unfiltered', async () => {
      const copy = join(root, 'damaged');
      await cp(data, copy, { recursive: true });
      const index = (await readFile(join(copy, 'index.jsonl'), 'utf8')).split('\n').filter(Boolean).map((l) => JSON.parse(l) as { patientId: string; pack: string; offset: number; bytes: number; kind?: string });
      const keep = all[0]!.patientId;
      const victim = index.find((r) => r.patientId !== keep && !r.kind && index.some((o) => o.pack === r.pack && o.patientId === keep))!;
      assert.ok(victim, 'a pack shared by two patients');
      const packFile = join(copy, 'store', 'packs', `${victim.pack}.vgp`);
      const bytes = await readFile(packFile);
      bytes[victim.offset + victim.bytes - 1]! ^= 0xff;
      await writeFile(packFile, bytes);
      const filtered = await vitalgate(['open', '--data-dir', copy, '--passphrase-file', pass, '--json', '--patient', keep]);
      assert.equal(filtered.code, 0, filtered.stderr);
      assert.deepEqual(got(filtered.stdout), only((l) => l.patientId === keep));
      const whole = await vitalgate(['open', '--data-dir', copy, '--passphrase-file', pass, '--json']);
      assert.equal(whole.code, 1);
      assert.match(whole.stderr, /FAILED/);
      const victimOnly = await vitalgate(['open', '--data-dir', copy, '--passphrase-file', pass, '--patient', victim.patientId]);
      assert.equal(victimOnly.code, 1);
      assert.match(victimOnly.stderr, /do not hash to the batch id/);
    });

    for (const [args, msg] of [
      [['--from', 'yesterday'], /--from must be an ISO 8601 time .*relative to now \(-10m, -2h, -1d/],
      [['--to', '10m'], /--to must be/],
      [['--from', '2026-13-45'], /--from must be/],
      [['--stream', 'hr,pulse'], /--stream pulse: unknown stream; streams are ecg, ppg, hr/],
      [['--from', '-1h', '--to', '-2h'], /--to .* is before --from/],
    ] as const) {
      for (const cmd of args[0] === '--from' && args.length === 2 && args[1] !== 'yesterday' ? ['open'] : ['open', 'verify']) {
        it(`${cmd} ${args.join(' ')}: a clear error, exit 2`, async () => {
          const r = await vitalgate([cmd, '--data-dir', data, '--passphrase-file', pass, ...args]);
          assert.equal(r.code, 2, r.stderr);
          assert.match(r.stderr, msg);
          assert.doesNotMatch(r.stderr, STACK);
        });
      }
    }
  });
});
