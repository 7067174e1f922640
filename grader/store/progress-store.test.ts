import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ProgressStore } from './progress-store.ts';
import { SCHEMA_VERSION } from './schema.ts';

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
    s.recordAttempt({ exerciseId: 'x/y', durationMs: 1, target: 'exercises', passed: false, tests: 1, files });
    s.recordAttempt({ exerciseId: 'x/y', durationMs: 1, target: 'exercises', passed: true, tests: 1, files: { 'exercises/x/y.ts': 'v2' } });
    const snaps = s.snapshots('x/y');
    expect(snaps.map((x) => x.files['exercises/x/y.ts'])).toEqual(['v1', 'v2']);
    const attempts = s.attempts('x/y');
    expect(attempts[0]!.snapshotId).toBe(attempts[1]!.snapshotId);
    s.close();
  });

  it('moves a corrupt file aside with a timestamp and reports it', () => {
    const path = join(dir, 'progress.db');
    writeFileSync(path, 'this is not a database, but it is somebody\'s file'.repeat(200));
    const r = ProgressStore.open(path, clock);
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.value.notice).toMatch(/^progress\.db was corrupt; it was moved to progress\.db\.corrupt-2026-01-01T00-00-00-000Z/);
    r.value.store.close();
    const aside = readdirSync(dir).filter((f) => f.includes('.corrupt-'));
    expect(aside).toEqual(['progress.db.corrupt-2026-01-01T00-00-00-000Z']);
    expect(existsSync(path)).toBe(true);
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
