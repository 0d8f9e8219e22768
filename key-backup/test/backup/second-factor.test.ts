/**
 * The optional second factor of a key backup: a recovery code needed together with the heartbeats
 * (docs/key-backup.md, "Second factor"). Beats come from the real PhysioNet records in
 * ../shared/data: MIT-BIH 100 (MLII locks, V5 recovers) and v102s (someone else's heart).
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { bytesToHex } from '@noble/hashes/utils.js';
import fc from 'fast-check';
import { readWfdbRecord } from '@vitalgate/biosignal';
import {
  BACKUP_VERSION,
  BACKUP_VERSION_2FA,
  KeyBackupError,
  RECOVERY_CODE_BITS,
  RecoveryCodeError,
  backupMatchesSecret,
  backupNeedsRecoveryCode,
  backupPatientSecret,
  decodeRecoveryCode,
  encodeRecoveryDigits,
  generateRecoveryCode,
  openRecoveredSecret,
  parseBackup,
  readBackupFile,
  recoverPatientSecret,
  recoveryCodeKey,
  restoreIntoKeystore,
  vaultMatchesSecret,
  writeBackupFile,
  type BeatWindow,
} from '../../src/index.js';
import { Keystore } from '@vitalgate/edge-gateway';
import { beatsOf, physionet } from '../beats.js';
import { TEST_SCRYPT, tempDir } from '../helpers.js';

const PASS = 'key backup test passphrase';
const ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

describe('BSN key backup: recovery code as a second factor', function () {
  this.timeout(60_000);
  let mlii: number[];
  let v5: number[];
  let v102sII: number[];
  const W: BeatWindow = { startSeconds: 120, seconds: 60 };
  const PATIENT = 'patient-0100';

  before(async () => {
    const r100 = await readWfdbRecord(path.join(physionet, '100.hea'));
    mlii = beatsOf(r100, 'MLII', 400);
    v5 = beatsOf(r100, 'V5', 400);
    v102sII = beatsOf(await readWfdbRecord(path.join(physionet, 'v102s.hea')), 'II');
  });

  async function backupWithCode(dir: string, code: string | null, format: 'generated' | 'passphrase' = 'generated') {
    const keystore = await Keystore.open(path.join(dir, 'keys'), PASS, TEST_SCRYPT);
    const { pms } = await keystore.getOrEnroll(PATIENT);
    const b = await backupPatientSecret({
      keystore, patientId: PATIENT, beatTimesSeconds: mlii, window: W,
      source: { kind: 'record', name: '100', signal: 'MLII', sensor: 'ecg' },
      ...(code !== null ? { recoveryCode: { code, format, scrypt: TEST_SCRYPT } } : {}),
    });
    const file = path.join(dir, 'backup', `${PATIENT}.vault.json`);
    await writeBackupFile(file, b.vaultJson);
    return { pms, b, file, backup: await readBackupFile(file) };
  }

  it('(1) code + the right heartbeats recover the PMS; the vault alone gives up only K_v', async () => {
    const t = await tempDir();
    try {
      const code = generateRecoveryCode();
      const { pms, backup, b } = await backupWithCode(t.dir, code);
      assert.equal((JSON.parse(b.vaultJson) as { version: number }).version, BACKUP_VERSION_2FA);
      assert.ok(backupNeedsRecoveryCode(backup));
      assert.ok(b.security.securityBits >= 128);
      const t0 = performance.now();
      const r = await recoverPatientSecret({ vault: backup.vault, windows: [v5] });
      assert.ok(r.secret, 'V5 unlocks the vault');
      assert.notDeepEqual(r.secret, pms, 'the vault must not hide the PMS itself');
      assert.ok(!backupMatchesSecret(backup, r.secret));
      const got = openRecoveredSecret(backup, r.secret, await recoveryCodeKey(backup, code));
      console.log(`      vault + AEAD: ${(performance.now() - t0).toFixed(1)} ms (test scrypt N=2^10)`);
      assert.deepEqual(got, pms);
      assert.ok(backupMatchesSecret(backup, got!));
      // The code as a person types it back: lower case, spaces, O for 0, L for 1.
      const typed = code.toLowerCase().replace(/-/g, ' ').replace(/0/g, 'o').replace(/1/g, 'l');
      assert.deepEqual(openRecoveredSecret(backup, r.secret, await recoveryCodeKey(backup, typed)), pms);
      const fresh = await Keystore.open(path.join(t.dir, 'new-keys'), PASS, TEST_SCRYPT);
      assert.deepEqual(await restoreIntoKeystore(fresh, PATIENT, got!), { written: true });
      assert.deepEqual(await fresh.get(PATIENT), pms);
    } finally {
      await t.cleanup();
    }
  });

  it('(2) the right heartbeats without the code are refused clearly', async () => {
    const t = await tempDir();
    try {
      const { backup } = await backupWithCode(t.dir, generateRecoveryCode());
      const r = await recoverPatientSecret({ vault: backup.vault, windows: [v5] });
      assert.ok(r.secret);
      assert.throws(() => openRecoveredSecret(backup, r.secret!), (e: Error) =>
        e instanceof KeyBackupError && e.code === 'needs-code' && /needs its recovery code as well as the heartbeats/.test(e.message));
    } finally {
      await t.cleanup();
    }
  });

  it('(3) the right heartbeats with a wrong code (well-formed, or chosen text) are refused', async () => {
    const t = await tempDir();
    try {
      const { backup } = await backupWithCode(t.dir, generateRecoveryCode());
      const r = await recoverPatientSecret({ vault: backup.vault, windows: [v5] });
      assert.ok(r.secret);
      assert.equal(openRecoveredSecret(backup, r.secret, await recoveryCodeKey(backup, generateRecoveryCode())), null);
      // A chosen code: one character off is simply another passphrase.
      const t2 = await tempDir();
      try {
        const chosen = await backupWithCode(t2.dir, 'correct horse battery staple', 'passphrase');
        const r2 = await recoverPatientSecret({ vault: chosen.backup.vault, windows: [v5] });
        assert.ok(r2.secret);
        assert.equal(openRecoveredSecret(chosen.backup, r2.secret, await recoveryCodeKey(chosen.backup, 'correct horse battery stapLe')), null);
        assert.deepEqual(openRecoveredSecret(chosen.backup, r2.secret, await recoveryCodeKey(chosen.backup, 'correct horse battery staple')), chosen.pms);
      } finally {
        await t2.cleanup();
      }
    } finally {
      await t.cleanup();
    }
  });

  it('(4) the right code with someone else\'s heartbeats (record v102s) is refused, and so is any other K_v', async () => {
    const t = await tempDir();
    try {
      const code = generateRecoveryCode();
      const { backup } = await backupWithCode(t.dir, code);
      const codeKey = await recoveryCodeKey(backup, code);
      const r = await recoverPatientSecret({ vault: backup.vault, windows: [v102sII, { beatTimesSeconds: v102sII, window: { startSeconds: 100, seconds: 60 } }] });
      assert.equal(r.secret, null);
      // Even past the vault: a key that is not this vault's K_v never opens the sealed PMS.
      assert.equal(openRecoveredSecret(backup, new Uint8Array(32), codeKey), null);
      // Another backup of the same patient has another K_v: its beats-half does not fit this one.
      const t2 = await tempDir();
      try {
        const other = await backupWithCode(t2.dir, code);
        const r2 = await recoverPatientSecret({ vault: other.backup.vault, windows: [v5] });
        assert.ok(r2.secret);
        assert.equal(openRecoveredSecret(backup, r2.secret, codeKey), null);
      } finally {
        await t2.cleanup();
      }
    } finally {
      await t.cleanup();
    }
  });

  it('(5) a backup without a second factor is version 1 and recovers exactly as before', async () => {
    const t = await tempDir();
    try {
      const { pms, backup, b } = await backupWithCode(t.dir, null);
      const doc = JSON.parse(b.vaultJson) as Record<string, unknown>;
      assert.equal(doc.version, BACKUP_VERSION);
      assert.equal(doc.secondFactor, undefined);
      assert.ok(!backupNeedsRecoveryCode(backup));
      const r = await recoverPatientSecret({ vault: backup.vault, windows: [v5] });
      assert.deepEqual(r.secret, pms);
      assert.ok(vaultMatchesSecret(backup.vault, pms));
      assert.deepEqual(openRecoveredSecret(backup, r.secret!), pms);
      assert.ok(backupMatchesSecret(backup, pms));
      await assert.rejects(recoveryCodeKey(backup, generateRecoveryCode()), /needs no recovery code/);
    } finally {
      await t.cleanup();
    }
  });

  it('(6) a typo is caught by the group checks, names the group, and costs no scrypt', async () => {
    const t = await tempDir();
    try {
      const code = generateRecoveryCode();
      const { backup } = await backupWithCode(t.dir, code);
      const groups = code.split('-');
      const g = groups[3]!;
      groups[3] = g.slice(0, 2) + (g[2] === 'X' ? 'Y' : 'X') + g.slice(3);
      const typo = groups.join('-');
      // Slow costs in the file, so a scrypt run would show in the time.
      const slow = { ...backup, secondFactor: { ...backup.secondFactor!, kdf: { ...backup.secondFactor!.kdf, N: 2 ** 17 } } };
      const t0 = performance.now();
      await assert.rejects(recoveryCodeKey(slow, typo), (e: Error) =>
        e instanceof RecoveryCodeError && e.group === 4 && e.message.includes(`group 4 of the recovery code (${groups[3]}) is mistyped`));
      assert.ok(performance.now() - t0 < 50, `a typo took ${performance.now() - t0} ms`);
      assert.throws(() => decodeRecoveryCode(code.slice(0, -1)), (e: Error) => e instanceof RecoveryCodeError && /7 groups of 5 characters/.test(e.message));
      assert.throws(() => decodeRecoveryCode(code.replace(/^./, 'U')), (e: Error) => e instanceof RecoveryCodeError && e.group === 1 && /"U"/.test(e.message));
      // A group in the wrong place is caught as well.
      const [a, b2, ...rest] = code.split('-');
      assert.throws(() => decodeRecoveryCode([b2, a, ...rest].join('-')), RecoveryCodeError);
      // A chosen code too short to resist guessing is refused at backup.
      await assert.rejects(backupWithCode(t.dir, 'short code', 'passphrase'), (e: Error) => e instanceof KeyBackupError && e.code === 'weak-code');
    } finally {
      await t.cleanup();
    }
  });

  it('(7) the file records that a code is needed, but not the code, its bytes, K_v or the PMS', async () => {
    const t = await tempDir();
    try {
      const code = generateRecoveryCode();
      const { pms, file, backup } = await backupWithCode(t.dir, code);
      const bytes = await readFile(file);
      const text = bytes.toString('utf8');
      const lower = text.toLowerCase();
      const raw = decodeRecoveryCode(code).bytes;
      const kv = (await recoverPatientSecret({ vault: backup.vault, windows: [v5] })).secret!;
      const codeKey = await recoveryCodeKey(backup, code);
      const needles: Array<[string, string]> = [
        ['code', code], ['code without hyphens', code.replace(/-/g, '')],
        ...code.split('-').map((g, i): [string, string] => [`group ${i + 1}`, `"${g}`]),
      ];
      for (const [what, s] of needles) assert.ok(!lower.includes(s.toLowerCase()), `the file holds the ${what}`);
      for (const [what, b] of [['code bytes', raw], ['code bytes (no padding)', raw.subarray(0, 17)], ['PMS', pms], ['K_v', kv], ['scrypt(code)', codeKey]] as const) {
        assert.ok(!bytes.includes(Buffer.from(b)), `the file holds the ${what} raw`);
        for (const enc of [bytesToHex(b), Buffer.from(b).toString('base64'), Buffer.from(b).toString('base64url')]) {
          assert.ok(!lower.includes(enc.toLowerCase()), `the file holds the ${what} as ${enc}`);
        }
      }
      const doc = JSON.parse(text) as { secondFactor: Record<string, unknown> };
      assert.deepEqual(Object.keys(doc.secondFactor).sort(), ['aead', 'codeFormat', 'kdf', 'kind', 'nonce', 'sealed']);
      assert.equal(doc.secondFactor.codeFormat, 'generated');
    } finally {
      await t.cleanup();
    }
  });

  it('refuses altered version 2 files: downgrade to version 1, moved patient id, tampered costs', async () => {
    const t = await tempDir();
    try {
      const code = generateRecoveryCode();
      const { pms, b } = await backupWithCode(t.dir, code);
      const doc = JSON.parse(b.vaultJson) as Record<string, unknown>;
      assert.throws(() => parseBackup(JSON.stringify({ ...doc, secondFactor: undefined })), /version 2 backup needs its secondFactor/);
      assert.throws(() => parseBackup(JSON.stringify({ ...doc, version: 1 })), /secondFactor in a version 1 backup/);
      const sf = doc.secondFactor as { kdf: Record<string, unknown> };
      assert.throws(() => parseBackup(JSON.stringify({ ...doc, secondFactor: { ...sf, kdf: { ...sf.kdf, N: 2 ** 30 } } })), /kdf.N must be a power of two/);
      // Downgraded to a version 1 file: the vault then yields K_v, which the MAC (keyed by the PMS) rejects.
      const { secondFactor: _sf, ...v1 } = doc;
      const down = parseBackup(JSON.stringify({ ...v1, version: 1 }));
      const kv = (await recoverPatientSecret({ vault: down.vault, windows: [v5] })).secret!;
      assert.ok(kv);
      assert.equal(backupMatchesSecret(down, openRecoveredSecret(down, kv)!), false);
      // Another patient id: the AEAD's associated data no longer matches.
      const moved = parseBackup(JSON.stringify({ ...doc, patientId: 'patient-0200' }));
      assert.equal(openRecoveredSecret(moved, kv, await recoveryCodeKey(moved, code)), null);
      assert.deepEqual(openRecoveredSecret(parseBackup(b.vaultJson), kv, await recoveryCodeKey(moved, code)), pms);
    } finally {
      await t.cleanup();
    }
  });

  it('(8) property: codes round-trip, and any single-character change is caught', () => {
    assert.equal(RECOVERY_CODE_BITS, 140);
    const digits = fc.array(fc.integer({ min: 0, max: 31 }), { minLength: 28, maxLength: 28 });
    fc.assert(fc.property(digits, fc.nat(), fc.integer({ min: 1, max: 31 }), (d, pos, delta) => {
      const code = encodeRecoveryDigits(d);
      assert.match(code, /^[0-9A-HJKMNP-TV-Z]{5}(-[0-9A-HJKMNP-TV-Z]{5}){6}$/);
      const dec = decodeRecoveryCode(code);
      assert.deepEqual(dec.digits, d);
      assert.equal(dec.canonical, code);
      assert.deepEqual(decodeRecoveryCode(code.toLowerCase()).digits, d);
      // Change one character (data or check) to any other symbol of the alphabet.
      const chars = code.replace(/-/g, '').split('');
      const i = pos % chars.length;
      chars[i] = ALPHABET[(ALPHABET.indexOf(chars[i]!) + delta) % 32]!;
      assert.throws(() => decodeRecoveryCode(chars.join('')), (e: Error) => e instanceof RecoveryCodeError && e.group === Math.floor(i / 5) + 1);
    }), { numRuns: 2000 });
    // Generated codes are well-formed and (practically) never repeat.
    const seen = new Set<string>();
    for (let k = 0; k < 200; k++) seen.add(decodeRecoveryCode(generateRecoveryCode()).canonical);
    assert.equal(seen.size, 200);
  });
});
