// The progress store's schema, as an ordered list of migrations; PRAGMA user_version counts those applied.

export interface Migration {
  readonly version: number;
  readonly sql: string;
}

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    sql: `
      CREATE TABLE state (
        key   TEXT PRIMARY KEY,
        value TEXT NOT NULL
      );
      CREATE TABLE exercise (
        id               TEXT PRIMARY KEY,
        status           TEXT NOT NULL CHECK (status IN ('attempted', 'passed')),
        first_attempt_at INTEGER NOT NULL,
        passed_at        INTEGER
      );
      CREATE TABLE snapshot (
        id          INTEGER PRIMARY KEY,
        exercise_id TEXT NOT NULL,
        at          INTEGER NOT NULL,
        reason      TEXT NOT NULL,
        digest      TEXT NOT NULL,
        files       TEXT NOT NULL
      );
      CREATE INDEX snapshot_by_exercise ON snapshot (exercise_id, id);
      CREATE TABLE attempt (
        id          INTEGER PRIMARY KEY,
        exercise_id TEXT NOT NULL,
        at          INTEGER NOT NULL,
        duration_ms INTEGER NOT NULL,
        target      TEXT NOT NULL,
        passed      INTEGER NOT NULL,
        tests       INTEGER NOT NULL,
        failed_test TEXT,
        message     TEXT,
        seed        INTEGER,
        snapshot_id INTEGER REFERENCES snapshot (id)
      );
      CREATE INDEX attempt_by_exercise ON attempt (exercise_id, id);
      CREATE TABLE hint (
        exercise_id TEXT NOT NULL,
        level       INTEGER NOT NULL,
        at          INTEGER NOT NULL,
        PRIMARY KEY (exercise_id, level)
      );
      CREATE TABLE solution_view (
        id          INTEGER PRIMARY KEY,
        exercise_id TEXT NOT NULL,
        at          INTEGER NOT NULL,
        how         TEXT NOT NULL
      );
    `,
  },
  {
    // An attempt is keyed by the content it graded: the same files graded again (an identical save, a
    // re-run) are not another attempt. Attempts of version 1 take the digest of their snapshot.
    version: 2,
    sql: `
      ALTER TABLE attempt ADD COLUMN digest TEXT;
      UPDATE attempt SET digest = (SELECT s.digest FROM snapshot s WHERE s.id = attempt.snapshot_id) WHERE snapshot_id IS NOT NULL;
      CREATE INDEX attempt_by_content ON attempt (exercise_id, digest);
    `,
  },
];

export const SCHEMA_VERSION = MIGRATIONS[MIGRATIONS.length - 1]!.version;
