// Loads the catalogue, checks it against the file trees, and finds exercises by id.
import { readdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import { CATALOGUE, type ChapterEntry, type ExerciseEntry } from '../catalogue.ts';
import { err, ok, type Result } from './errors.ts';
import { exercisePaths, isFile, ROOT, TREES, type ExercisePaths } from './paths.ts';

/** CPU time per test: at least 5x what any reference test uses, and the same on a busy machine. */
export const DEFAULT_LIMIT_MS = 5_000;

export interface Exercise extends ExerciseEntry {
  /** `NN-chapter/MM-exercise`. */
  readonly id: string;
  readonly chapter: ChapterEntry;
  /** Position in the course, from 0. */
  readonly index: number;
  readonly paths: ExercisePaths;
  readonly limitMs: number;
}

export interface Course {
  readonly root: string;
  readonly chapters: readonly ChapterEntry[];
  readonly exercises: readonly Exercise[];
  readonly byId: ReadonlyMap<string, Exercise>;
}

const SLUG = /^\d\d-[a-z0-9]+(?:-[a-z0-9]+)*$/;

/** Every file one exercise owns, relative to the root. */
export function filesOf(ex: Exercise, root: string): string[] {
  const rel = (p: string) => relative(root, p);
  const files = [rel(ex.paths.lesson), rel(ex.paths.test), ...ex.paths.stubFiles.map(rel), ...ex.paths.solutionFiles.map(rel)];
  for (const m of ex.mutants) files.push(`grader/mutants/${ex.id}/${m}.patch`);
  return files;
}

/** Editors' and tools' scratch files (vim swap and its 4913 probe, emacs locks, backups, dlab's own probe). */
function isScratch(name: string): boolean {
  return name.startsWith('.') || name.endsWith('~') || /\.sw[a-p]$/.test(name) || /^\d+$/.test(name) || name.startsWith('#');
}

function walk(dir: string, root: string, out: string[]): void {
  let entries;
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return;
  }
  for (const e of entries) {
    if (isScratch(e.name)) continue;
    const p = join(dir, e.name);
    if (e.isDirectory()) walk(p, root, out);
    else out.push(relative(root, p));
  }
}

/** Checks the catalogue's shape and its agreement with the trees; returns every problem found. */
export function checkCatalogue(chapters: readonly ChapterEntry[], root: string): { course: Course; problems: string[] } {
  const problems: string[] = [];
  const exercises: Exercise[] = [];
  const byId = new Map<string, Exercise>();
  const expected = new Set<string>();
  const chapterSlugs = new Set<string>();
  for (const ch of chapters) {
    if (!SLUG.test(ch.slug)) problems.push(`grader/catalogue.ts: chapter slug '${ch.slug}' is not NN-name`);
    if (chapterSlugs.has(ch.slug)) problems.push(`grader/catalogue.ts: chapter '${ch.slug}' is listed twice`);
    chapterSlugs.add(ch.slug);
    expected.add(`course/${ch.slug}/README.md`);
    for (const entry of ch.exercises) {
      const id = `${ch.slug}/${entry.slug}`;
      if (!SLUG.test(entry.slug)) problems.push(`grader/catalogue.ts: exercise slug '${id}' is not NN-chapter/MM-name`);
      if (byId.has(id)) problems.push(`grader/catalogue.ts: exercise '${id}' is listed twice`);
      if (entry.hints.length !== 3 || entry.hints.some((h) => h.trim() === '')) {
        problems.push(`grader/catalogue.ts: '${id}' needs three non-empty hints (a nudge, the idea, the near-answer)`);
      }
      if (entry.files !== undefined && entry.files[0] !== 'index.ts') {
        problems.push(`grader/catalogue.ts: '${id}' lists files, and the first must be index.ts`);
      }
      const ex: Exercise = {
        ...entry,
        id,
        chapter: ch,
        index: exercises.length,
        paths: exercisePaths(id, entry.files, root),
        limitMs: entry.limitMs ?? DEFAULT_LIMIT_MS,
      };
      exercises.push(ex);
      byId.set(id, ex);
      for (const f of filesOf(ex, root)) expected.add(f);
    }
  }
  for (const f of expected) {
    if (!isFile(join(root, f))) problems.push(`${f}: listed in grader/catalogue.ts but missing`);
  }
  for (const tree of TREES) {
    const found: string[] = [];
    walk(join(root, tree), root, found);
    for (const f of found.sort()) {
      if (!expected.has(f)) problems.push(`${f}: not listed in grader/catalogue.ts (add it there, or remove the file)`);
    }
  }
  return { course: { root, chapters, exercises, byId }, problems };
}

/** The course, or an error naming the first broken file. */
export function loadCourse(root: string = ROOT, chapters: readonly ChapterEntry[] = CATALOGUE): Result<Course> {
  const { course, problems } = checkCatalogue(chapters, root);
  if (problems.length > 0) {
    const more = problems.length > 1 ? ` (and ${problems.length - 1} more problem${problems.length > 2 ? 's' : ''})` : '';
    return err('catalogue', `broken catalogue: ${problems[0]}${more}`, 'run `npx dlab verify` to list every problem');
  }
  return ok(course);
}

function editDistance(a: string, b: string): number {
  const prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let diag = prev[0]!;
    prev[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const up = prev[j]!;
      prev[j] = Math.min(up + 1, prev[j - 1]! + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1));
      diag = up;
    }
  }
  return prev[b.length]!;
}

const bare = (slug: string) => slug.replace(/^\d\d-/, '');

/**
 * Finds an exercise from what a learner typed: the full id, the exercise slug (`01-vector-clocks`),
 * its name (`vector-clocks`), or a unique fragment. Unknown names suggest the nearest ids.
 */
export function findExercise(course: Course, query: string): Result<Exercise> {
  const q = query.trim().replace(/\.(ts|md)$/, '').replace(/^(course|exercises|solutions)\//, '');
  const exact = course.byId.get(q);
  if (exact) return ok(exact);
  const tries: Array<(e: Exercise) => boolean> = [
    (e) => e.slug === q,
    (e) => bare(e.slug) === q,
    (e) => e.id.includes(q),
  ];
  for (const t of tries) {
    const hits = course.exercises.filter(t);
    if (hits.length === 1) return ok(hits[0]!);
    if (hits.length > 1) {
      return err('unknown-exercise', `'${query}' matches ${hits.length} exercises: ${hits.map((e) => e.id).join(', ')}`, 'type the full id');
    }
  }
  // Only ids a typo away: a third of the name's letters, at least two.
  const limit = Math.max(2, Math.floor(q.length / 3));
  const near = course.exercises
    .map((e) => ({ e, d: Math.min(editDistance(q, e.id), editDistance(q, e.slug), editDistance(q, bare(e.slug))) }))
    .filter((x) => x.d <= limit)
    .sort((a, b) => a.d - b.d || a.e.index - b.e.index)
    .slice(0, 3)
    .map((x) => x.e.id);
  const next = near.length > 0 ? `did you mean ${near.join(', ')}? (\`npx dlab list\` shows them all)` : '`npx dlab list` shows every exercise';
  return err('unknown-exercise', `no exercise '${query}'`, next);
}
