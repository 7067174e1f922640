// Where things live: the repo root and the path of every part of one exercise (DESIGN.md, "Layout").
import { existsSync, statSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { createHash } from 'node:crypto';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repo root: the folder that holds package.json, course/, exercises/, solutions/, grader/ and harness/. */
export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

export const TREES = ['course', 'exercises', 'solutions', 'grader/tests', 'grader/mutants'] as const;

/** The files of one exercise, as absolute paths. */
export interface ExercisePaths {
  readonly lesson: string;
  readonly chapterReadme: string;
  /** The stub's entry file (`exercises/<id>.ts`, or `exercises/<id>/index.ts` for a folder exercise). */
  readonly stub: string;
  readonly solution: string;
  /** The folder holding a multi-file exercise, or undefined for a one-file exercise. */
  readonly stubDir: string | undefined;
  readonly solutionDir: string | undefined;
  /** Every file of the stub (just `stub` for a one-file exercise), in catalogue order. */
  readonly stubFiles: readonly string[];
  /** The reference's files, parallel to stubFiles. */
  readonly solutionFiles: readonly string[];
  /** Each file's name as the learner knows it (`<id>.ts`, or `<id>/<file>`), parallel to stubFiles. */
  readonly fileNames: readonly string[];
  readonly test: string;
  readonly mutantsDir: string;
  /** Correct implementations of other designs (grader/alternatives/<id>/), which verify must see pass. */
  readonly alternativesDir: string;
}

export function chapterOf(id: string): string {
  return id.slice(0, id.indexOf('/'));
}

/** `files` lists a folder exercise's files (index.ts first); undefined for a one-file exercise. */
export function exercisePaths(id: string, files: readonly string[] | undefined, root: string = ROOT): ExercisePaths {
  const folder = files !== undefined;
  const entry = folder ? `${id}/index.ts` : `${id}.ts`;
  const fileNames = folder ? files.map((f) => `${id}/${f}`) : [entry];
  return {
    lesson: join(root, 'course', `${id}.md`),
    chapterReadme: join(root, 'course', chapterOf(id), 'README.md'),
    stub: join(root, 'exercises', entry),
    solution: join(root, 'solutions', entry),
    stubDir: folder ? join(root, 'exercises', id) : undefined,
    solutionDir: folder ? join(root, 'solutions', id) : undefined,
    stubFiles: fileNames.map((f) => join(root, 'exercises', f)),
    solutionFiles: fileNames.map((f) => join(root, 'solutions', f)),
    fileNames,
    test: join(root, 'grader', 'tests', `${id}.test.ts`),
    mutantsDir: join(root, 'grader', 'mutants', id),
    alternativesDir: join(root, 'grader', 'alternatives', id),
  };
}

/** A path as the learner should see it: relative to the current directory when that is shorter. */
export function shown(path: string, cwd: string = process.cwd()): string {
  const rel = relative(cwd, path);
  return rel !== '' && !rel.startsWith('..') && !rel.startsWith(sep) ? rel : path;
}

/** A scratch folder for this checkout (job files, mutant copies), outside the repo so git never sees it. */
export function scratchDir(root: string = ROOT): string {
  const hash = createHash('sha1').update(root).digest('hex').slice(0, 10);
  const base = process.env['DLAB_SCRATCH'] ?? join(tmpdir() || homedir(), `dlab-${process.getuid?.() ?? 'u'}`);
  return join(base, hash);
}

export function isFile(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

export function exists(path: string): boolean {
  return existsSync(path);
}
