// Reads what is still readable in a damaged progress file, table by table and row by row, as a dump to
// import into a fresh one. better-sqlite3 has no `.recover`; a damaged page costs the rows on it, not the rest.
import Database from 'better-sqlite3';
import type { ProgressDump } from './progress-store.ts';
import { SCHEMA_VERSION } from './schema.ts';

type Row = Record<string, unknown>;

/** After this many rowids in a row with nothing readable, a table is taken to have ended (when its end is unknown). */
const GAP = 4_096;
/** At most this many single-row reads per table: a garbage max(rowid) must not make salvage run for ever. */
const MAX_LOOKUPS = 2_000_000;

const isInt = (x: unknown): x is number => typeof x === 'number' && Number.isInteger(x);
const isStr = (x: unknown): x is string => typeof x === 'string';
const orNull = (ok: (x: unknown) => boolean) => (x: unknown) => x === null || x === undefined || ok(x);

/** What a sound row of each table looks like: a damaged page can also yield rows of garbage. */
const SOUND: Record<string, (r: Row) => boolean> = {
  state: (r) => isStr(r['key']) && isStr(r['value']),
  exercise: (r) => isStr(r['id']) && (r['status'] === 'attempted' || r['status'] === 'passed') && isInt(r['first_attempt_at']) && orNull(isInt)(r['passed_at']),
  snapshot: (r) => {
    if (!(isStr(r['exercise_id']) && isInt(r['at']) && isStr(r['reason']) && isStr(r['digest']) && isStr(r['files']))) return false;
    try {
      const f = JSON.parse(r['files']) as unknown;
      return f !== null && typeof f === 'object' && Object.values(f).every(isStr);
    } catch {
      return false;
    }
  },
  attempt: (r) =>
    isStr(r['exercise_id']) &&
    isInt(r['at']) &&
    isInt(r['duration_ms']) &&
    isStr(r['target']) &&
    (r['passed'] === 0 || r['passed'] === 1) &&
    isInt(r['tests']) &&
    orNull(isStr)(r['failed_test']) &&
    orNull(isStr)(r['message']) &&
    orNull(isInt)(r['seed']) &&
    orNull(isInt)(r['snapshot_id']) &&
    orNull(isStr)(r['digest']),
  hint: (r) => isStr(r['exercise_id']) && isInt(r['level']) && (r['level'] as number) >= 1 && (r['level'] as number) <= 3 && isInt(r['at']),
  solution_view: (r) => isStr(r['exercise_id']) && isInt(r['at']) && isStr(r['how']),
};

/** Every readable row of one table, by rowid; `lost` when some part of it could not be read. */
function readTable(db: Database.Database, table: string): { rows: Row[]; lost: boolean } {
  const q = `"${table.replace(/"/g, '""')}"`;
  const rows = new Map<number, Row>();
  let last = 0;
  // The whole table in one scan, as far as the damage lets it go.
  try {
    for (const r of db.prepare(`SELECT rowid AS "rowid:", * FROM ${q} ORDER BY rowid`).iterate() as IterableIterator<Row>) {
      last = r['rowid:'] as number;
      rows.set(last, r);
    }
    return { rows: [...rows.values()], lost: false };
  } catch {
    /* past the damage below, one rowid at a time */
  }
  let end: number | undefined;
  try {
    const m = (db.prepare(`SELECT max(rowid) AS m FROM ${q}`).get() as { m: number | null }).m;
    if (m !== null && m - last <= MAX_LOOKUPS) end = m;
  } catch {
    end = undefined;
  }
  const one = db.prepare(`SELECT rowid AS "rowid:", * FROM ${q} WHERE rowid = ?`);
  const from = db.prepare(`SELECT rowid AS "rowid:" FROM ${q} WHERE rowid >= ? ORDER BY rowid LIMIT 1`);
  let id = last + 1;
  let misses = 0;
  for (let n = 0; n < MAX_LOOKUPS; n++) {
    if (end !== undefined && id > end) break;
    if (end === undefined && misses >= GAP) {
      // Its end is unknown: look further out for rows beyond a long damaged stretch before giving up.
      let found: number | undefined;
      for (let k = 0; k < 40 && found === undefined; k++) {
        try {
          found = (from.get(id + 2 ** k) as Row | undefined)?.['rowid:'] as number | undefined;
          if (found === undefined) break;
        } catch {
          /* damaged there too: further */
        }
      }
      if (found === undefined) break;
      id = found;
      misses = 0;
    }
    try {
      const r = one.get(id) as Row | undefined;
      if (r !== undefined) {
        rows.set(id, r);
        misses = 0;
      } else misses++;
    } catch {
      misses++;
    }
    id++;
  }
  return { rows: [...rows.values()], lost: true };
}

/**
 * The readable rows of a damaged progress file as a dump (rows that do not look sound are left out), or
 * undefined when nothing in it can be read (not a database, or its schema is gone).
 */
export function readDamaged(path: string): { dump: ProgressDump; lostSome: boolean } | undefined {
  let db: Database.Database | undefined;
  try {
    // A file shorter than its header says (truncated) is read as far as it goes only with writable_schema,
    // which better-sqlite3's defensive mode turns off: this connection only reads.
    const lenient = (d: Database.Database) => {
      d.unsafeMode(true);
      d.pragma('writable_schema = ON');
      return d;
    };
    try {
      db = lenient(new Database(path, { readonly: true, fileMustExist: true }));
      db.prepare('SELECT name FROM sqlite_master').all();
    } catch {
      // A write-ahead log without its index can only be read by a connection that may write.
      db?.close();
      db = lenient(new Database(path, { fileMustExist: true }));
    }
    const tables = new Set((db.prepare(`SELECT name FROM sqlite_master WHERE type = 'table'`).all() as Array<{ name: string }>).map((r) => r.name));
    let lostSome = false;
    const read = (table: string): Row[] => {
      if (!tables.has(table)) return [];
      const { rows, lost } = readTable(db!, table);
      const sound = rows.filter(SOUND[table]!);
      if (lost || sound.length < rows.length) lostSome = true;
      return sound.map((r) => {
        const { ['rowid:']: rowid, ...rest } = r;
        return { ...rest, id: rest['id'] ?? rowid };
      });
    };
    const state = read('state');
    const exercises = read('exercise');
    const snapshots = read('snapshot');
    const attempts = read('attempt');
    const hints = read('hint');
    const solutionViews = read('solution_view');
    if (state.length + exercises.length + snapshots.length + attempts.length + hints.length + solutionViews.length === 0) return undefined;
    // An exercise whose row was lost is rebuilt from its attempts: attempted, or passed at its first pass.
    const known = new Set(exercises.map((e) => e['id']));
    const rebuilt = new Map<string, Row>();
    for (const a of [...attempts].sort((x, y) => (x['at'] as number) - (y['at'] as number))) {
      const id = a['exercise_id'] as string;
      if (known.has(id)) continue;
      const e = rebuilt.get(id) ?? { id, status: 'attempted', first_attempt_at: a['at'], passed_at: null };
      if (a['passed'] === 1 && e['status'] !== 'passed') Object.assign(e, { status: 'passed', passed_at: a['at'] });
      rebuilt.set(id, e);
    }
    const current = state.find((r) => r['key'] === 'current')?.['value'];
    return {
      dump: {
        format: 'dlab-progress',
        version: SCHEMA_VERSION,
        exportedAt: new Date(0).toISOString(),
        current: typeof current === 'string' ? current : null,
        exercises: [...exercises, ...rebuilt.values()],
        attempts,
        snapshots,
        hints,
        solutionViews,
      },
      lostSome,
    };
  } catch {
    return undefined;
  } finally {
    try {
      db?.close();
    } catch {
      /* nothing more to read */
    }
  }
}
