// The learner's progress in SQLite (better-sqlite3): WAL, a busy timeout, migrations, one transaction per write.
import { createHash } from 'node:crypto';
import { existsSync, renameSync } from 'node:fs';
import { basename, join } from 'node:path';
import Database from 'better-sqlite3';
import { err, ok, type Result } from '../core/errors.ts';
import { ROOT } from '../core/paths.ts';
import { readDamaged } from './salvage.ts';
import { MIGRATIONS, SCHEMA_VERSION } from './schema.ts';

interface Salvaged {
  readonly attempts: number;
  readonly snapshots: number;
  readonly hints: number;
  readonly lostSome: boolean;
}

export type Status = 'pending' | 'attempted' | 'passed';

/** The learner's files of one exercise, by path relative to the repo root. */
export type Files = Readonly<Record<string, string>>;

export interface ExerciseProgress {
  readonly status: Exclude<Status, 'pending'>;
  readonly firstAttemptAt: number;
  readonly passedAt: number | undefined;
  readonly attempts: number;
}

export interface AttemptInput {
  readonly exerciseId: string;
  readonly durationMs: number;
  readonly target: string;
  readonly passed: boolean;
  readonly tests: number;
  readonly failedTest?: string | undefined;
  readonly message?: string | undefined;
  readonly seed?: number | undefined;
  /** The learner's files as graded; kept as a snapshot. */
  readonly files?: Files | undefined;
}

export interface Attempt {
  readonly id: number;
  readonly exerciseId: string;
  readonly at: number;
  readonly durationMs: number;
  readonly target: string;
  readonly passed: boolean;
  readonly tests: number;
  readonly failedTest: string | undefined;
  readonly message: string | undefined;
  readonly seed: number | undefined;
  readonly snapshotId: number | undefined;
}

export interface Snapshot {
  readonly id: number;
  readonly exerciseId: string;
  readonly at: number;
  readonly reason: string;
  readonly files: Files;
}

export interface OpenedStore {
  readonly store: ProgressStore;
  /** Set when the file was corrupt and moved aside: a line to show the learner. */
  readonly notice?: string;
}

/** The progress file in use: `DLAB_DB` when set, else `progress.db` in the repo root. */
export function defaultDbPath(env: Readonly<Record<string, string | undefined>> = process.env): string {
  const fromEnv = env['DLAB_DB'];
  return fromEnv !== undefined && fromEnv !== '' ? fromEnv : join(ROOT, 'progress.db');
}

const BUSY_TIMEOUT_MS = 5_000;

function digest(files: Files): string {
  const h = createHash('sha256');
  for (const k of Object.keys(files).sort()) h.update(k).update('\0').update(files[k]!).update('\0');
  return h.digest('hex');
}

function stamp(now: number): string {
  return new Date(now).toISOString().replace(/[:.]/g, '-');
}

function looksCorrupt(e: unknown): boolean {
  const code = (e as { code?: unknown }).code;
  return code === 'SQLITE_NOTADB' || code === 'SQLITE_CORRUPT' || (typeof code === 'string' && code.startsWith('SQLITE_CORRUPT'));
}

export class ProgressStore {
  private constructor(
    private readonly db: Database.Database,
    readonly path: string,
    private readonly now: () => number,
  ) {}

  /**
   * Opens (creating if needed) the store at `path`. A corrupt file is moved aside as
   * `<name>.corrupt-<timestamp>`, never silently replaced: what can still be read in it is saved into a fresh
   * file, and `notice` says what was saved and where the damaged file is.
   */
  static open(path: string = defaultDbPath(), now: () => number = Date.now): Result<OpenedStore> {
    const first = ProgressStore.tryOpen(path, now);
    if (first.ok) return ok({ store: first.value });
    if (!looksCorrupt(first.error)) {
      const msg = first.error instanceof Error ? first.error.message : String(first.error);
      return err('progress-store', `cannot open ${path}: ${msg}`, 'check the file permissions, or set DLAB_DB to another file');
    }
    const aside = `${path}.corrupt-${stamp(now())}`;
    try {
      renameSync(path, aside);
      for (const suffix of ['-wal', '-shm']) if (existsSync(path + suffix)) renameSync(path + suffix, aside + suffix);
    } catch (e) {
      // Another dlab moved it aside first (and is salvaging it): open what it made.
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') {
        const theirs = ProgressStore.tryOpen(path, now);
        if (theirs.ok) return ok({ store: theirs.value });
      }
      return err('progress-store', `${path} is corrupt and could not be moved aside: ${(e as Error).message}`, `move it away by hand, then run dlab again`);
    }
    const second = ProgressStore.tryOpen(path, now);
    if (!second.ok) {
      return err('progress-store', `cannot create a fresh ${path}: ${(second.error as Error).message}`, 'set DLAB_DB to another file');
    }
    const store = second.value;
    let saved: Salvaged | undefined;
    try {
      const dump = readDamaged(aside);
      if (dump !== undefined) saved = { ...store.importAll(dump.dump), lostSome: dump.lostSome };
    } catch {
      saved = undefined; // whatever made the damaged file unreadable made it so here too
    }
    const name = basename(path);
    if (saved === undefined) {
      return ok({ store, notice: `${name} was damaged and nothing in it could be read; a fresh progress file was started (your exercise files are untouched); the damaged file is at ${aside}` });
    }
    const passes = [...store.progress().values()].filter((x) => x.status === 'passed').length;
    const n = (k: number, what: string) => `${k} ${what}${k === 1 ? '' : what.endsWith('s') ? 'es' : 's'}`;
    return ok({
      store,
      notice:
        `${name} was damaged; saved ${n(saved.attempts, 'attempt')}${saved.lostSome ? ' (some could not be read)' : ''}, ${n(passes, 'pass')}, ` +
        `${n(saved.hints, 'hint')}, ${n(saved.snapshots, 'snapshot')} of your code; the damaged file is at ${aside}`,
    });
  }

  private static tryOpen(path: string, now: () => number): { ok: true; value: ProgressStore } | { ok: false; error: unknown } {
    let db: Database.Database | undefined;
    try {
      db = new Database(path, { timeout: BUSY_TIMEOUT_MS });
      db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = NORMAL');
      db.pragma('foreign_keys = ON');
      const check = db.pragma('quick_check', { simple: true });
      if (check !== 'ok') throw Object.assign(new Error(`integrity check failed: ${String(check)}`), { code: 'SQLITE_CORRUPT' });
      ProgressStore.migrate(db);
      return { ok: true, value: new ProgressStore(db, path, now) };
    } catch (e) {
      db?.close();
      return { ok: false, error: e };
    }
  }

  private static migrate(db: Database.Database): void {
    const current = db.pragma('user_version', { simple: true }) as number;
    if (current > SCHEMA_VERSION) {
      throw new Error(`it was written by a newer dlab (schema ${current}, this dlab knows ${SCHEMA_VERSION}); update dlab`);
    }
    if (current === SCHEMA_VERSION) return;
    // IMMEDIATE: two dlab processes starting at once must not both migrate.
    db.transaction(() => {
      const again = db.pragma('user_version', { simple: true }) as number;
      for (const m of MIGRATIONS) {
        if (m.version <= again) continue;
        db.exec(m.sql);
        db.pragma(`user_version = ${m.version}`);
      }
    }).immediate();
  }

  close(): void {
    this.db.close();
  }

  private write<T>(fn: () => T): T {
    return this.db.transaction(fn).immediate();
  }

  current(): string | undefined {
    const row = this.db.prepare(`SELECT value FROM state WHERE key = 'current'`).get() as { value: string } | undefined;
    return row?.value;
  }

  setCurrent(id: string): void {
    this.write(() => {
      this.db.prepare(`INSERT INTO state (key, value) VALUES ('current', ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value`).run(id);
    });
  }

  progress(): Map<string, ExerciseProgress> {
    const rows = this.db
      .prepare(
        `SELECT e.id, e.status, e.first_attempt_at, e.passed_at,
                (SELECT COUNT(*) FROM attempt a WHERE a.exercise_id = e.id) AS attempts
           FROM exercise e`,
      )
      .all() as Array<{ id: string; status: 'attempted' | 'passed'; first_attempt_at: number; passed_at: number | null; attempts: number }>;
    return new Map(
      rows.map((r) => [
        r.id,
        { status: r.status, firstAttemptAt: r.first_attempt_at, passedAt: r.passed_at ?? undefined, attempts: r.attempts },
      ]),
    );
  }

  status(id: string): Status {
    const row = this.db.prepare(`SELECT status FROM exercise WHERE id = ?`).get(id) as { status: Status } | undefined;
    return row?.status ?? 'pending';
  }

  /**
   * Records a graded attempt (and a snapshot of the learner's files); a pass marks the exercise passed for good.
   * Attempts are keyed by the content graded: files already graded with the same verdict (an identical save, a
   * re-run) add no attempt, and the id of the one that graded them is returned.
   */
  recordAttempt(a: AttemptInput): number {
    const at = this.now();
    const d = a.files === undefined ? undefined : digest(a.files);
    return this.write(() => {
      if (d !== undefined) {
        const seen = this.db
          .prepare(`SELECT id FROM attempt WHERE exercise_id = ? AND digest = ? AND target = ? AND passed = ? ORDER BY id LIMIT 1`)
          .get(a.exerciseId, d, a.target, a.passed ? 1 : 0) as { id: number } | undefined;
        if (seen !== undefined) return seen.id;
      }
      const snapshotId = a.files === undefined ? undefined : this.snapshotIn(a.exerciseId, 'attempt', a.files, at);
      const info = this.db
        .prepare(
          `INSERT INTO attempt (exercise_id, at, duration_ms, target, passed, tests, failed_test, message, seed, snapshot_id, digest)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        )
        .run(
          a.exerciseId,
          at,
          Math.round(a.durationMs),
          a.target,
          a.passed ? 1 : 0,
          a.tests,
          a.failedTest ?? null,
          a.message ?? null,
          a.seed ?? null,
          snapshotId ?? null,
          d ?? null,
        );
      this.db
        .prepare(
          `INSERT INTO exercise (id, status, first_attempt_at, passed_at) VALUES (?, ?, ?, ?)
           ON CONFLICT (id) DO UPDATE SET
             status = CASE WHEN exercise.status = 'passed' OR excluded.status = 'passed' THEN 'passed' ELSE 'attempted' END,
             passed_at = COALESCE(exercise.passed_at, excluded.passed_at)`,
        )
        .run(a.exerciseId, a.passed ? 'passed' : 'attempted', at, a.passed ? at : null);
      return Number(info.lastInsertRowid);
    });
  }

  attempts(id: string): Attempt[] {
    const rows = this.db.prepare(`SELECT * FROM attempt WHERE exercise_id = ? ORDER BY id`).all(id) as Array<{
      id: number; exercise_id: string; at: number; duration_ms: number; target: string; passed: number; tests: number;
      failed_test: string | null; message: string | null; seed: number | null; snapshot_id: number | null;
    }>;
    return rows.map((r) => ({
      id: r.id,
      exerciseId: r.exercise_id,
      at: r.at,
      durationMs: r.duration_ms,
      target: r.target,
      passed: r.passed === 1,
      tests: r.tests,
      failedTest: r.failed_test ?? undefined,
      message: r.message ?? undefined,
      seed: r.seed ?? undefined,
      snapshotId: r.snapshot_id ?? undefined,
    }));
  }

  hintsRevealed(id: string): number {
    const row = this.db.prepare(`SELECT MAX(level) AS level FROM hint WHERE exercise_id = ?`).get(id) as { level: number | null };
    return row.level ?? 0;
  }

  /** Records that hint `level` (1..3) was shown; returns how many are revealed now. */
  revealHint(id: string, level: number): number {
    this.write(() => {
      this.db.prepare(`INSERT OR IGNORE INTO hint (exercise_id, level, at) VALUES (?, ?, ?)`).run(id, level, this.now());
    });
    return this.hintsRevealed(id);
  }

  recordSolutionView(id: string, how: string): void {
    this.write(() => {
      this.db.prepare(`INSERT INTO solution_view (exercise_id, at, how) VALUES (?, ?, ?)`).run(id, this.now(), how);
    });
  }

  solutionViews(id: string): number {
    return (this.db.prepare(`SELECT COUNT(*) AS n FROM solution_view WHERE exercise_id = ?`).get(id) as { n: number }).n;
  }

  /** Keeps a copy of the learner's files (deduplicated against the latest snapshot); returns its id. */
  snapshot(id: string, reason: string, files: Files): number {
    return this.write(() => this.snapshotIn(id, reason, files, this.now()));
  }

  private snapshotIn(id: string, reason: string, files: Files, at: number): number {
    const d = digest(files);
    const latest = this.db.prepare(`SELECT id, digest FROM snapshot WHERE exercise_id = ? ORDER BY id DESC LIMIT 1`).get(id) as
      | { id: number; digest: string }
      | undefined;
    if (latest !== undefined && latest.digest === d && reason === 'attempt') return latest.id;
    const info = this.db
      .prepare(`INSERT INTO snapshot (exercise_id, at, reason, digest, files) VALUES (?, ?, ?, ?, ?)`)
      .run(id, at, reason, d, JSON.stringify(files));
    return Number(info.lastInsertRowid);
  }

  snapshots(id: string): Snapshot[] {
    const rows = this.db.prepare(`SELECT id, exercise_id, at, reason, files FROM snapshot WHERE exercise_id = ? ORDER BY id`).all(id) as Array<{
      id: number; exercise_id: string; at: number; reason: string; files: string;
    }>;
    return rows.map((r) => ({ id: r.id, exerciseId: r.exercise_id, at: r.at, reason: r.reason, files: JSON.parse(r.files) as Files }));
  }

  /** Everything in the store, as plain data (`dlab export`). */
  exportAll(): ProgressDump {
    const all = (sql: string) => this.db.prepare(sql).all() as Array<Record<string, unknown>>;
    return {
      format: 'dlab-progress',
      version: SCHEMA_VERSION,
      exportedAt: new Date(this.now()).toISOString(),
      current: this.current() ?? null,
      exercises: all('SELECT * FROM exercise ORDER BY id'),
      attempts: all('SELECT * FROM attempt ORDER BY id'),
      snapshots: all('SELECT * FROM snapshot ORDER BY id'),
      hints: all('SELECT * FROM hint ORDER BY exercise_id, level'),
      solutionViews: all('SELECT * FROM solution_view ORDER BY id'),
    };
  }

  /**
   * Merges a dump into this store (`dlab import`): rows already present are skipped, so importing the
   * same file twice changes nothing; a pass anywhere stays a pass. Returns how many rows were added.
   */
  importAll(d: ProgressDump): { attempts: number; snapshots: number; hints: number; solutionViews: number } {
    return this.write(() => {
      const counts = { attempts: 0, snapshots: 0, hints: 0, solutionViews: 0 };
      const snapshotIds = new Map<number, number>();
      for (const s of d.snapshots) {
        const existing = this.db.prepare('SELECT id FROM snapshot WHERE exercise_id = ? AND at = ? AND digest = ?').get(s['exercise_id'], s['at'], s['digest']) as { id: number } | undefined;
        if (existing !== undefined) {
          snapshotIds.set(Number(s['id']), existing.id);
          continue;
        }
        const info = this.db.prepare('INSERT INTO snapshot (exercise_id, at, reason, digest, files) VALUES (?, ?, ?, ?, ?)').run(s['exercise_id'], s['at'], s['reason'], s['digest'], s['files']);
        snapshotIds.set(Number(s['id']), Number(info.lastInsertRowid));
        counts.snapshots++;
      }
      for (const a of d.attempts) {
        const dup = this.db.prepare('SELECT 1 FROM attempt WHERE exercise_id = ? AND at = ? AND duration_ms = ? AND target = ?').get(a['exercise_id'], a['at'], a['duration_ms'], a['target']);
        if (dup !== undefined) continue;
        const snap = a['snapshot_id'] === null || a['snapshot_id'] === undefined ? null : (snapshotIds.get(Number(a['snapshot_id'])) ?? null);
        // A dump of version 1 has no content key: its snapshot's digest is that key.
        const key = a['digest'] ?? (snap === null ? null : ((this.db.prepare('SELECT digest FROM snapshot WHERE id = ?').get(snap) as { digest: string } | undefined)?.digest ?? null));
        this.db
          .prepare('INSERT INTO attempt (exercise_id, at, duration_ms, target, passed, tests, failed_test, message, seed, snapshot_id, digest) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)')
          .run(a['exercise_id'], a['at'], a['duration_ms'], a['target'], a['passed'], a['tests'], a['failed_test'] ?? null, a['message'] ?? null, a['seed'] ?? null, snap, key);
        counts.attempts++;
      }
      for (const e of d.exercises) {
        this.db
          .prepare(
            `INSERT INTO exercise (id, status, first_attempt_at, passed_at) VALUES (?, ?, ?, ?)
             ON CONFLICT (id) DO UPDATE SET
               status = CASE WHEN exercise.status = 'passed' OR excluded.status = 'passed' THEN 'passed' ELSE 'attempted' END,
               first_attempt_at = MIN(exercise.first_attempt_at, excluded.first_attempt_at),
               passed_at = CASE WHEN exercise.passed_at IS NULL THEN excluded.passed_at
                                WHEN excluded.passed_at IS NULL THEN exercise.passed_at
                                ELSE MIN(exercise.passed_at, excluded.passed_at) END`,
          )
          .run(e['id'], e['status'], e['first_attempt_at'], e['passed_at'] ?? null);
      }
      for (const h of d.hints) {
        counts.hints += this.db.prepare('INSERT OR IGNORE INTO hint (exercise_id, level, at) VALUES (?, ?, ?)').run(h['exercise_id'], h['level'], h['at']).changes;
      }
      for (const v of d.solutionViews) {
        const dup = this.db.prepare('SELECT 1 FROM solution_view WHERE exercise_id = ? AND at = ? AND how = ?').get(v['exercise_id'], v['at'], v['how']);
        if (dup !== undefined) continue;
        this.db.prepare('INSERT INTO solution_view (exercise_id, at, how) VALUES (?, ?, ?)').run(v['exercise_id'], v['at'], v['how']);
        counts.solutionViews++;
      }
      if (d.current !== null && this.current() === undefined) {
        this.db.prepare(`INSERT INTO state (key, value) VALUES ('current', ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value`).run(d.current);
      }
      return counts;
    });
  }
}

/** The file `dlab export` writes: every table, as rows. */
export interface ProgressDump {
  readonly format: 'dlab-progress';
  readonly version: number;
  readonly exportedAt: string;
  readonly current: string | null;
  readonly exercises: ReadonlyArray<Record<string, unknown>>;
  readonly attempts: ReadonlyArray<Record<string, unknown>>;
  readonly snapshots: ReadonlyArray<Record<string, unknown>>;
  readonly hints: ReadonlyArray<Record<string, unknown>>;
  readonly solutionViews: ReadonlyArray<Record<string, unknown>>;
}

/** Checks that parsed JSON is a dump this dlab can import; a reason when it is not. */
export function asDump(x: unknown): ProgressDump | string {
  const d = x as Partial<ProgressDump> | null;
  if (d === null || typeof d !== 'object' || d.format !== 'dlab-progress') return 'it is not a dlab progress export';
  if (typeof d.version !== 'number' || d.version > SCHEMA_VERSION) return `it was written by a newer dlab (format ${String(d.version)})`;
  for (const k of ['exercises', 'attempts', 'snapshots', 'hints', 'solutionViews'] as const) {
    if (!Array.isArray(d[k])) return `its '${k}' is missing`;
  }
  return d as ProgressDump;
}
