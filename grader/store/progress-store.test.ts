import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, existsSync, mkdtempSync, openSync, readdirSync, rmSync, statSync, truncateSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ProgressStore } from './progress-store.ts';
import { MIGRATIONS, SCHEMA_VERSION } from './schema.ts';

let dir: string;
let now: number;
const clock = () => now;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'dlab-store-'));
  now = Date.UTC(2026, 0, 1);
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function open(path = join(dir, 'progress.db')): ProgressStore {
  const r = ProgressStore.open(path, clock);
  if (!r.ok) throw new Error(r.error.message);
  return r.value.store;
}

/** A progress file like a learner's after a few sessions: 68 attempts over 5 exercises, 3 passes, 2 hints. */
function populate(path: string) {
  const s = open(path);
  const ids = ['01-a/00-x', '01-a/01-y', '01-a/02-z', '02-b/01-u', '02-b/02-v'];
  const byAt = new Map<number, { passed: boolean; message: string | undefined }>();
  const filesAt = new Map<number, Record<string, string>>();
  for (let i = 0; i < 68; i++) {
    const id = ids[i % 5]!;
    const passed = i >= 60 && i % 5 < 3;
    const files = { [`exercises/${id}.ts`]: `// attempt ${i}\n${'let x = 1;\n'.repeat(40 + (i % 7) * 30)}` };
    const message = passed ? undefined : `property ${i} broke: ${'why '.repeat(20 + (i % 11) * 10)}`;
    now += 60_000;
    byAt.set(now, { passed, message });
    filesAt.set(now, files);
    s.recordAttempt({ exerciseId: id, durationMs: 100 + i, target: 'exercises', passed, tests: 4, failedTest: passed ? undefined : 't', message, files });
  }
  s.revealHint(ids[0]!, 1);
  s.revealHint(ids[0]!, 2);
  s.setCurrent(ids[4]!);
  const attempts = ids.flatMap((id) => s.attempts(id)).length;
  expect(attempts).toBe(68);
  expect(ids.filter((id) => s.status(id) === 'passed')).toHaveLength(3);
  s.close();
  return { ids, attempts, byAt, filesAt };
}

/** Overwrites one leaf page in the middle of a table with garbage; returns how many rows it held. */
function corruptMiddleLeaf(path: string, table: string): number {
  const db = new Database(path, { readonly: true });
  const pageSize = db.pragma('page_size', { simple: true }) as number;
  const leaves = db.prepare(`SELECT pageno, ncell FROM dbstat WHERE name = ? AND pagetype = 'leaf' ORDER BY pageno`).all(table) as Array<{ pageno: number; ncell: number }>;
  db.close();
  expect(leaves.length).toBeGreaterThan(2);
  const victim = leaves[Math.floor(leaves.length / 2)]!;
  const fd = openSync(path, 'r+');
  const junk = Buffer.alloc(pageSize);
  for (let i = 0; i < pageSize; i++) junk[i] = (i * 7919 + 13) % 251;
  writeSync(fd, junk, 0, pageSize, (victim.pageno - 1) * pageSize);
  closeSync(fd);
  return victim.ncell;
}

describe('the progress store', () => {
  it('creates a WAL database at the current schema version', () => {
    const s = open();
    s.close();
    const db = new Database(join(dir, 'progress.db'));
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
    expect(db.pragma('user_version', { simple: true })).toBe(SCHEMA_VERSION);
    db.close();
  });

  it('records attempts; a pass marks the exercise passed for good', () => {
    const s = open();
    expect(s.status('x/y')).toBe('pending');
    s.recordAttempt({ exerciseId: 'x/y', durationMs: 12.4, target: 'exercises', passed: false, tests: 3, failedTest: 't', message: 'm', seed: 7 });
    expect(s.status('x/y')).toBe('attempted');
    now += 1000;
    s.recordAttempt({ exerciseId: 'x/y', durationMs: 5, target: 'exercises', passed: true, tests: 3 });
    s.recordAttempt({ exerciseId: 'x/y', durationMs: 5, target: 'exercises', passed: false, tests: 3 });
    expect(s.status('x/y')).toBe('passed');
    const p = s.progress().get('x/y')!;
    expect(p).toEqual({ status: 'passed', firstAttemptAt: Date.UTC(2026, 0, 1), passedAt: Date.UTC(2026, 0, 1) + 1000, attempts: 3 });
    const [first] = s.attempts('x/y');
    expect(first).toMatchObject({ durationMs: 12, passed: false, failedTest: 't', message: 'm', seed: 7 });
    s.close();
  });

  it('keeps the current exercise, hints and solution views', () => {
    const s = open();
    expect(s.current()).toBeUndefined();
    s.setCurrent('a/b');
    s.setCurrent('c/d');
    expect(s.current()).toBe('c/d');
    expect(s.revealHint('c/d', 1)).toBe(1);
    expect(s.revealHint('c/d', 1)).toBe(1);
    expect(s.revealHint('c/d', 2)).toBe(2);
    s.recordSolutionView('c/d', 'diff');
    expect(s.solutionViews('c/d')).toBe(1);
    s.close();
    const again = open();
    expect(again.current()).toBe('c/d');
    expect(again.hintsRevealed('c/d')).toBe(2);
    again.close();
  });

  it('snapshots the learner file at each graded attempt, without storing unchanged copies twice', () => {
    const s = open();
    const files = { 'exercises/x/y.ts': 'v1' };
    s.recordAttempt({ exerciseId: 'x/y', durationMs: 1, target: 'exercises', passed: false, tests: 1, files });
    s.snapshot('x/y', 'reset', { 'exercises/x/y.ts': 'stub' });
    s.recordAttempt({ exerciseId: 'x/y', durationMs: 1, target: 'exercises', passed: true, tests: 1, files: { 'exercises/x/y.ts': 'v2' } });
    s.recordAttempt({ exerciseId: 'x/y', durationMs: 1, target: 'exercises', passed: true, tests: 1, files: { 'exercises/x/y.ts': 'v2' } });
    const snaps = s.snapshots('x/y');
    expect(snaps.map((x) => x.files['exercises/x/y.ts'])).toEqual(['v1', 'stub', 'v2']);
    const attempts = s.attempts('x/y');
    expect(attempts.map((a) => a.snapshotId)).toEqual([snaps[0]!.id, snaps[2]!.id]);
    s.close();
  });

  it('counts an attempt once per content: an identical re-save or a re-run adds none', () => {
    const s = open();
    const a = { 'exercises/x/y.ts': 'v1' };
    const b = { 'exercises/x/y.ts': 'v2' };
    const fail = (files: Record<string, string>) => s.recordAttempt({ exerciseId: 'x/y', durationMs: 1, target: 'exercises', passed: false, tests: 1, files });
    const first = fail(a);
    now += 1000;
    expect(fail(a)).toBe(first);
    expect(fail({ ...a })).toBe(first);
    fail(b);
    fail(a); // back to content already graded: still counted once
    expect(s.attempts('x/y')).toHaveLength(2);
    expect(s.progress().get('x/y')!.attempts).toBe(2);
    expect(s.attempts('x/y')[0]!.at).toBe(Date.UTC(2026, 0, 1));
    // The same content with another verdict (the tests changed underneath) is news: it is recorded.
    s.recordAttempt({ exerciseId: 'x/y', durationMs: 1, target: 'exercises', passed: true, tests: 1, files: b });
    expect(s.attempts('x/y')).toHaveLength(3);
    expect(s.status('x/y')).toBe('passed');
    // Attempts recorded without files (no content to key by) are all kept.
    s.recordAttempt({ exerciseId: 'x/z', durationMs: 1, target: 'exercises', passed: false, tests: 1 });
    s.recordAttempt({ exerciseId: 'x/z', durationMs: 1, target: 'exercises', passed: false, tests: 1 });
    expect(s.attempts('x/z')).toHaveLength(2);
    s.close();
  });

  it('migrates a version-1 file: old attempts get their content key from their snapshot', () => {
    const path = join(dir, 'progress.db');
    const db = new Database(path);
    db.exec(MIGRATIONS[0]!.sql);
    db.pragma('user_version = 1');
    const files = { 'exercises/x/y.ts': 'v1' };
    db.prepare(`INSERT INTO snapshot (id, exercise_id, at, reason, digest, files) VALUES (1, 'x/y', 5, 'attempt', ?, ?)`).run(
      createHash('sha256').update('exercises/x/y.ts').update('\0').update('v1').update('\0').digest('hex'),
      JSON.stringify(files),
    );
    db.prepare(`INSERT INTO attempt (exercise_id, at, duration_ms, target, passed, tests, snapshot_id) VALUES ('x/y', 5, 1, 'exercises', 0, 1, 1)`).run();
    db.prepare(`INSERT INTO exercise (id, status, first_attempt_at) VALUES ('x/y', 'attempted', 5)`).run();
    db.close();
    const s = open(path);
    s.recordAttempt({ exerciseId: 'x/y', durationMs: 1, target: 'exercises', passed: false, tests: 1, files });
    expect(s.attempts('x/y')).toHaveLength(1);
    s.close();
  });

  it('moves a file that is not a database aside with a timestamp, and says nothing could be saved', () => {
    const path = join(dir, 'progress.db');
    writeFileSync(path, 'this is not a database, but it is somebody\'s file'.repeat(200));
    const r = ProgressStore.open(path, clock);
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    const aside = join(dir, 'progress.db.corrupt-2026-01-01T00-00-00-000Z');
    expect(r.value.notice).toBe(
      `progress.db was damaged and nothing in it could be read; a fresh progress file was started (your exercise files are untouched); the damaged file is at ${aside}`,
    );
    expect(r.value.store.attempts('x/y')).toEqual([]);
    r.value.store.close();
    expect(readdirSync(dir).filter((f) => f.includes('.corrupt-'))).toEqual(['progress.db.corrupt-2026-01-01T00-00-00-000Z']);
    expect(existsSync(path)).toBe(true);
  });

  it('salvages what is still readable from a file with pages overwritten in the middle', () => {
    const path = join(dir, 'progress.db');
    const before = populate(path);
    // Overwrite a leaf page of the attempt table in the middle, and one of the snapshot table.
    const lost = corruptMiddleLeaf(path, 'attempt');
    corruptMiddleLeaf(path, 'snapshot');
    const sq = new Database(path, { readonly: true });
    expect(sq.pragma('quick_check', { simple: true })).not.toBe('ok');
    sq.close();

    const r = ProgressStore.open(path, clock);
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    const s = r.value.store;
    const aside = join(dir, `progress.db.corrupt-${new Date(now).toISOString().replace(/[:.]/g, '-')}`);
    const saved = before.attempts - lost;
    expect(r.value.notice).toMatch(new RegExp(`^progress\\.db was damaged; saved ${saved} attempts \\(some could not be read\\), 3 passes, 2 hints, \\d+ snapshots of your code; the damaged file is at ${aside.replace(/[.]/g, '\\.')}$`));
    const all = before.ids.flatMap((id) => s.attempts(id));
    expect(all).toHaveLength(saved);
    // What was saved is what was there: times, verdicts and messages.
    for (const a of all) expect(before.byAt.get(a.at)).toMatchObject({ passed: a.passed, message: a.message });
    expect(before.ids.filter((id) => s.status(id) === 'passed')).toHaveLength(3);
    expect(s.hintsRevealed(before.ids[0]!)).toBe(2);
    expect(s.current()).toBe(before.ids[4]);
    // Snapshots that were saved hold the files as they were, and the attempts still point at them.
    for (const id of before.ids) for (const snap of s.snapshots(id)) expect(snap.files).toEqual(before.filesAt.get(snap.at));
    for (const a of all) if (a.snapshotId !== undefined) expect(s.snapshots(a.exerciseId).some((x) => x.id === a.snapshotId)).toBe(true);
    s.close();
    // The damaged file is kept as it was, and the new one is sound.
    expect(existsSync(aside)).toBe(true);
    const db = new Database(path);
    expect(db.pragma('integrity_check', { simple: true })).toBe('ok');
    db.close();
    // Opening again is quiet: nothing is damaged any more.
    const again = ProgressStore.open(path, clock);
    expect(again.ok && again.value.notice).toBe(undefined);
    if (again.ok) again.value.store.close();
  });

  it('salvages the readable part of a truncated file', () => {
    const path = join(dir, 'progress.db');
    const before = populate(path);
    truncateSync(path, Math.floor(statSync(path).size * 0.6));
    const r = ProgressStore.open(path, clock);
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.value.notice).toMatch(/^progress\.db was damaged; saved \d+ attempts/);
    const n = before.ids.flatMap((id) => r.value.store.attempts(id)).length;
    expect(n).toBeGreaterThan(0);
    expect(n).toBeLessThanOrEqual(before.attempts);
    expect(r.value.notice).toContain(`saved ${n} attempts`);
    r.value.store.close();
  });

  it('refuses a file written by a newer dlab rather than damaging it', () => {
    const path = join(dir, 'progress.db');
    const db = new Database(path);
    db.pragma('user_version = 999');
    db.close();
    const r = ProgressStore.open(path, clock);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error.message).toContain('newer dlab');
  });

  it('two connections writing at once do not lose writes', () => {
    const a = open();
    const b = open();
    for (let i = 0; i < 50; i++) {
      a.recordAttempt({ exerciseId: 'x/y', durationMs: 1, target: 'exercises', passed: false, tests: 1 });
      b.recordAttempt({ exerciseId: 'x/y', durationMs: 1, target: 'exercises', passed: false, tests: 1 });
    }
    expect(a.attempts('x/y')).toHaveLength(100);
    a.close();
    b.close();
  });

  it('four processes writing at once lose nothing and leave a sound file', async () => {
    const path = join(dir, 'progress.db');
    open(path).close();
    const fixture = new URL('./concurrent-writer.fixture.ts', import.meta.url).pathname;
    const codes = await Promise.all(
      ['a', 'b', 'c', 'd'].map(
        (who) =>
          new Promise<number | null>((done) => {
            const child = spawn(process.execPath, ['--import', 'tsx', fixture, path, who, '40'], { stdio: 'inherit' });
            child.on('exit', done);
          }),
      ),
    );
    expect(codes).toEqual([0, 0, 0, 0]);
    const s = open(path);
    for (const who of ['a', 'b', 'c', 'd']) {
      expect(s.attempts(`x/${who}`)).toHaveLength(40);
      expect(s.snapshots(`x/${who}`)).toHaveLength(40);
      expect(s.status(`x/${who}`)).toBe('passed');
    }
    s.close();
    const db = new Database(path);
    expect(db.pragma('integrity_check', { simple: true })).toBe('ok');
    db.close();
  });
});
