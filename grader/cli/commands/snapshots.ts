// Keeping the learner's work safe: reset (with a snapshot first), restore, export and import.
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import type { Exercise } from '../../core/course.ts';
import { DlabExit, fail } from '../../core/errors.ts';
import { asDump, type Files, type Snapshot } from '../../store/progress-store.ts';
import type { Context } from '../context.ts';
import { ask } from '../ask.ts';
import { line, paint } from '../io.ts';
import { learnerFiles } from './grade.ts';
import { committedStubFiles } from '../../runner/targets.ts';

/** The stub as the course ships it: the version committed in git (HEAD). */
function pristineStub(ctx: Context, ex: Exercise): Files {
  const files = committedStubFiles(ex, ctx.root);
  if (files === undefined) {
    fail('io', `cannot find the original of ${ex.id}'s stub in git (is this folder a git clone of the course?)`, 'get the file from the course repository, or `git checkout` it');
  }
  return files;
}

/** Writes files atomically (temp file, then rename), so an editor never sees half a file. */
function writeFiles(root: string, files: Files): void {
  for (const [rel, text] of Object.entries(files)) {
    const path = join(root, rel);
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(`${path}.dlab-tmp`, text);
    renameSync(`${path}.dlab-tmp`, path);
  }
}

const same = (a: Files, b: Files) => JSON.stringify(Object.entries(a).sort()) === JSON.stringify(Object.entries(b).sort());

export async function reset(ctx: Context, id: string | undefined, opts: { yes?: boolean }): Promise<number> {
  const { io } = ctx;
  const p = paint(io);
  const ex = ctx.exercise(id);
  const current = learnerFiles(ex, ctx.root);
  const original = pristineStub(ctx, ex);
  if (same(current, original)) {
    line(io.stdout, `${ex.id} is already the untouched stub; nothing to reset.`);
    return 0;
  }
  const q = `Reset ${ex.id} to the untouched stub? (your code is kept as a snapshot)`;
  if (!(await ask(ctx.io, { prompt: q, refusal: `${q.replace(/\?.*$/, '')}: dlab asks first`, yesDoes: 'to go ahead' }, opts.yes === true))) return 1;
  const snap = ctx.store().snapshot(ex.id, 'reset', current);
  writeFiles(ctx.root, original);
  line(io.stdout, `${p.green('✓')} ${ex.id} is back to the untouched stub. Your code was kept as snapshot #${snap}.`);
  line(io.stdout, p.dim(`Undo with: npx dlab restore ${ex.id}`));
  return 0;
}

function describeSnapshot(s: Snapshot): string {
  const lines = Object.values(s.files).reduce((n, t) => n + t.split('\n').length, 0);
  return `#${String(s.id).padEnd(4)} ${new Date(s.at).toISOString().replace('T', ' ').slice(0, 19)}  ${s.reason.padEnd(8)} ${lines} lines`;
}

export async function restore(ctx: Context, id: string | undefined, opts: { list?: boolean; at?: number | undefined }): Promise<number> {
  const { io } = ctx;
  const p = paint(io);
  const ex = ctx.exercise(id);
  const snaps = ctx.store().snapshots(ex.id);
  if (opts.list === true) {
    if (snaps.length === 0) line(io.stdout, `No snapshots of ${ex.id} yet: one is kept at every graded attempt and before every reset.`);
    for (const s of snaps) line(io.stdout, describeSnapshot(s));
    return 0;
  }
  const current = learnerFiles(ex, ctx.root);
  let pick: Snapshot | undefined;
  if (opts.at !== undefined) {
    pick = snaps.find((s) => s.id === opts.at);
    if (pick === undefined) fail('bad-usage', `${ex.id} has no snapshot #${opts.at}`, `list them with: npx dlab restore ${ex.id} --list`);
  } else {
    // The latest snapshot that differs from the file as it is now: restoring the same text undoes nothing.
    pick = [...snaps].reverse().find((s) => !same(s.files, current));
    if (pick === undefined) {
      line(io.stdout, `No snapshot of ${ex.id} differs from your file as it is now; nothing to restore.`);
      return 0;
    }
  }
  ctx.store().snapshot(ex.id, 'restore', current);
  writeFiles(ctx.root, pick.files);
  line(io.stdout, `${p.green('✓')} restored ${ex.id} from snapshot ${describeSnapshot(pick)}`);
  line(io.stdout, p.dim(`Your file as it was just before is kept too: npx dlab restore ${ex.id} --list`));
  return 0;
}

export async function exportProgress(ctx: Context, file: string | undefined): Promise<number> {
  if (file === undefined) fail('bad-usage', 'export needs a file to write', 'npx dlab export my-progress.json');
  const path = resolve(ctx.io.cwd, file);
  const dump = ctx.store().exportAll();
  try {
    writeFileSync(`${path}.dlab-tmp`, JSON.stringify(dump, null, 1));
    renameSync(`${path}.dlab-tmp`, path);
  } catch (e) {
    throw new DlabExit({ code: 'io', message: `cannot write ${file}: ${(e as Error).message}` });
  }
  line(ctx.io.stdout, `Exported ${dump.attempts.length} attempts, ${dump.snapshots.length} snapshots and ${dump.hints.length} hints to ${file}.`);
  line(ctx.io.stdout, paint(ctx.io).dim(`On the other machine: npx dlab import ${file}`));
  return 0;
}

export async function importProgress(ctx: Context, file: string | undefined): Promise<number> {
  if (file === undefined) fail('bad-usage', 'import needs the file `dlab export` wrote', 'npx dlab import my-progress.json');
  const exported = 'give the file `npx dlab export FILE` wrote';
  let text: string;
  try {
    text = readFileSync(resolve(ctx.io.cwd, file), 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'it is a folder' : code === 'EACCES' ? 'permission denied' : (code ?? 'unreadable');
    fail('bad-usage', `cannot read ${file}: ${why}`, exported);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    // JSON.parse's message quotes the text; a binary file would put raw control bytes on the terminal.
    fail('bad-usage', `cannot import ${file}: it is not JSON, so not a file \`dlab export\` wrote`, exported);
  }
  const dump = asDump(parsed);
  if (typeof dump === 'string') fail('bad-usage', `cannot import ${file}: ${dump}`, 'give the file `npx dlab export FILE` wrote');
  const n = ctx.store().importAll(dump);
  line(ctx.io.stdout, `Imported ${n.attempts} attempts, ${n.snapshots} snapshots, ${n.hints} hints and ${n.solutionViews} solution views from ${file} (rows already here were skipped).`);
  return 0;
}
