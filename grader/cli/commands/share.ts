// `dlab share`: one file holding a learner's failing case (their code, the seed and path of the first failure,
// the dlab version, the verdict's headline), and `dlab replay --file`: replays it offline, byte for byte, on
// any copy of the course, through the same replay path as `dlab replay`.
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import type { Exercise } from '../../core/course.ts';
import { DlabExit, fail } from '../../core/errors.ts';
import { shown } from '../../core/paths.ts';
import { replayCaseOf } from '../../runner/determinism.ts';
import { grade, headline } from '../../runner/grade.ts';
import { checkShards } from '../../runner/shards.ts';
import type { Files } from '../../store/progress-store.ts';
import type { Context } from '../context.ts';
import { line, paint, type Io } from '../io.ts';
import { learnerFiles, recordVerdict, replay } from './grade.ts';

/** What `dlab share` writes (format 1). */
export interface SharedCase {
  readonly dlab: 'shared case';
  readonly format: 1;
  /** The dlab version (package.json) that wrote it. */
  readonly version: string;
  readonly id: string;
  /** Every file of the exercise as the learner had it, by path relative to the course root. */
  readonly files: Files;
  readonly passed: boolean;
  /** The verdict's one-line reason (`<test>: <first line of the report>`), or `passed`. */
  readonly headline: string;
  /** The first failure's seed and path: what `dlab replay --file` replays. null when there is none. */
  readonly seed: number | null;
  readonly path: string | null;
}

const FORMAT = 1;

/** The version of dlab in this course's package.json. */
export function courseVersion(root: string): string {
  try {
    const v = (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version?: unknown }).version;
    return typeof v === 'string' ? v : 'unknown';
  } catch {
    return 'unknown';
  }
}

const sameFiles = (a: Files, b: Files) => {
  const ka = Object.keys(a).sort();
  const kb = Object.keys(b).sort();
  return ka.length === kb.length && ka.every((k, i) => k === kb[i] && a[k] === b[k]);
};

/**
 * The case to share: the last graded attempt when it graded these very files and has nothing to replay (it
 * passed, or its failure had no seed); otherwise the code is graded now, as `dlab check` grades it (the store
 * keeps no replay path, and code changed since is another case).
 */
async function currentCase(ctx: Context, ex: Exercise, files: Files): Promise<Pick<SharedCase, 'passed' | 'headline' | 'seed' | 'path'>> {
  const store = ctx.store();
  const last = store.attempts(ex.id).filter((a) => a.target === 'exercises').at(-1);
  if (last !== undefined && (last.passed || last.seed === undefined) && last.snapshotId !== undefined) {
    const snap = store.snapshots(ex.id).find((s) => s.id === last.snapshotId);
    if (snap !== undefined && sameFiles(snap.files, files)) {
      return { passed: last.passed, headline: last.passed ? 'passed' : (last.message ?? last.failedTest ?? 'failed'), seed: null, path: null };
    }
  }
  // Graded and recorded as `dlab check` does (an identical save is not another attempt).
  const r = await grade(ex, { kind: 'exercises' }, { shards: checkShards(ex) }, ctx.root);
  if (!r.ok) throw new DlabExit(r.error);
  const v = r.value;
  recordVerdict(ctx, ex, v, files);
  const c = replayCaseOf(v.failures[0]);
  return { passed: v.passed, headline: headline(v), seed: c?.seed ?? null, path: c?.path ?? null };
}

export async function share(ctx: Context, id: string | undefined, opts: { out?: string | undefined; json: boolean }): Promise<number> {
  const { io } = ctx;
  const ex = ctx.exercise(id);
  const files = learnerFiles(ex, ctx.root);
  if (Object.keys(files).length === 0) {
    fail('io', `${ex.id} has no file to share: ${ex.paths.fileNames.map((f) => `exercises/${f}`).join(', ')} is missing`, `bring the stub back with: npx dlab reset ${ex.id} --yes`);
  }
  const c = await currentCase(ctx, ex, files);
  const shared: SharedCase = { dlab: 'shared case', format: FORMAT, version: courseVersion(ctx.root), id: ex.id, files, ...c };
  const out = resolve(io.cwd, opts.out ?? `dlab-share-${ex.slug}.json`);
  try {
    mkdirSync(dirname(out), { recursive: true });
    writeFileSync(out, `${JSON.stringify(shared, null, 2)}\n`);
  } catch (e) {
    throw new DlabExit({ code: 'io', message: `cannot write ${out}: ${(e as Error).message}`, next: 'give another file with --out FILE' });
  }
  const file = shown(out, io.cwd);
  if (opts.json) {
    line(io.stdout, JSON.stringify({ file, id: ex.id, version: shared.version, passed: shared.passed, headline: shared.headline, seed: shared.seed, path: shared.path }, null, 2));
    return 0;
  }
  const p = paint(io);
  const n = Object.keys(files).length;
  const what = c.seed === null ? (c.passed ? 'it passes' : 'its failure has no seed to replay') : `the first failure: seed ${c.seed}${c.path === null ? '' : `, path ${c.path}`}`;
  line(io.stdout, `Wrote ${file}: your code (${n} file${n === 1 ? '' : 's'}), ${what}, dlab ${shared.version}.`);
  line(io.stdout, p.dim(`  ${shared.headline}`));
  if (c.seed !== null) line(io.stdout, `Anyone with the course can replay it, offline: ${p.bold(`npx dlab replay --file ${file}`)}`);
  return 0;
}

/** Reads and checks a shared case; bad input (exit 2) when it is not one. */
export function readSharedCase(path: string, shownAs: string): SharedCase {
  const wrote = 'give a file `npx dlab share` wrote';
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    const why = (e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (e as Error).message;
    fail('bad-usage', `cannot read ${shownAs}: ${why}`, wrote);
  }
  let j: unknown;
  try {
    j = JSON.parse(text);
  } catch {
    fail('bad-usage', `${shownAs} is not JSON, so not a case \`dlab share\` wrote`, wrote);
  }
  const o = j as Record<string, unknown>;
  const problem =
    typeof j !== 'object' || j === null || o['dlab'] !== 'shared case'
      ? 'it is not a case `dlab share` wrote'
      : o['format'] !== FORMAT
        ? `it is in format ${String(o['format'])}; this dlab reads format ${FORMAT}`
        : typeof o['id'] !== 'string' || typeof o['version'] !== 'string' || typeof o['headline'] !== 'string' || typeof o['passed'] !== 'boolean'
          ? 'its id, version, headline or passed is missing'
          : typeof o['files'] !== 'object' || o['files'] === null || Object.values(o['files']).some((v) => typeof v !== 'string')
            ? 'its files are not a map of path to text'
            : !(o['seed'] === null || (typeof o['seed'] === 'number' && Number.isSafeInteger(o['seed']) && o['seed'] >= 0))
              ? 'its seed is not a whole number'
              : !(o['path'] === null || (typeof o['path'] === 'string' && /^\d+(:\d+)*$/.test(o['path'])))
                ? 'its path is not numbers joined by ":"'
                : undefined;
  if (problem !== undefined) fail('bad-usage', `cannot replay ${shownAs}: ${problem}`, wrote);
  return j as SharedCase;
}

/**
 * The exercise with its stub files moved to a scratch folder under .dlab/share/ holding the shared code, so
 * that it is graded as the learner's own code was (the same replay command in its report), and the learner's
 * files here are never touched. Only the exercise's own file names are accepted (nothing outside the folder).
 */
function materialise(ctx: Context, ex: Exercise, c: SharedCase, shownAs: string): { ex: Exercise; dir: string } {
  const known = new Map(ex.paths.stubFiles.map((f) => [relative(ctx.root, f), f]));
  const stray = Object.keys(c.files).filter((k) => !known.has(k));
  if (stray.length > 0) fail('bad-usage', `cannot replay ${shownAs}: ${stray[0]} is not a file of ${ex.id}`, `its files are ${[...known.keys()].join(', ')}`);
  const h = createHash('sha256');
  for (const k of Object.keys(c.files).sort()) h.update(k).update('\0').update(c.files[k]!).update('\0');
  const dir = join(ctx.root, '.dlab', 'share', h.digest('hex').slice(0, 16));
  const moved = (f: string) => join(dir, relative(ctx.root, f));
  try {
    for (const [rel, text] of Object.entries(c.files)) {
      const to = moved(known.get(rel)!);
      mkdirSync(dirname(to), { recursive: true });
      writeFileSync(to, text);
    }
  } catch (e) {
    throw new DlabExit({ code: 'io', message: `cannot write the shared code under ${shown(dir, ctx.io.cwd)}: ${(e as Error).message}` });
  }
  const paths = {
    ...ex.paths,
    stub: moved(ex.paths.stub),
    stubDir: ex.paths.stubDir === undefined ? undefined : moved(ex.paths.stubDir),
    stubFiles: ex.paths.stubFiles.map(moved),
  };
  return { ex: { ...ex, paths }, dir };
}

/** `dlab replay --file F`: the shared case's code, replayed here as `dlab replay` replays a learner's own. */
export async function replayFile(ctx: Context, file: string, opts: { json: boolean }): Promise<number> {
  const { io } = ctx;
  const path = resolve(io.cwd, file);
  const shownAs = shown(path, io.cwd);
  const c = readSharedCase(path, shownAs);
  const ex = ctx.course().byId.get(c.id);
  if (ex === undefined) fail('unknown-exercise', `${shownAs} is a case of ${c.id}, which this course does not have`, 'replay it in the course (and version) it was shared from');
  const here = courseVersion(ctx.root);
  if (c.version !== here) {
    line(io.stderr, `dlab: note: ${shownAs} was shared from dlab ${c.version}, and this is dlab ${here}: it replays, but where the versions differ the trace may too`);
  }
  const { ex: scratch, dir } = materialise(ctx, ex, c, shownAs);
  if (c.seed === null) {
    const target = shown(join(dir, 'exercises'), io.cwd);
    fail(
      'bad-usage',
      `${shownAs} has no failing case to replay (${c.passed ? 'its code passed' : `its failure had no seed: ${c.headline}`})`,
      `grade its code with: npx dlab check ${c.id} --target ${target}`,
    );
  }
  // The report names files where the worker found them: show them where the learner had them.
  const rel = relative(ctx.root, dir);
  const unscratch = (s: string) => s.split(`${dir}/`).join('').split(`${rel}/`).join('');
  const scratchIo: Io = { ...io, stdout: { write: (s: string) => io.stdout.write(unscratch(s)) } };
  return replay({ ...ctx, io: scratchIo }, c.id, { seed: String(c.seed), path: c.path ?? undefined, json: opts.json, exercise: scratch });
}
