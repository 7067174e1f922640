// What a run grades: the learner's stub, the reference, one mutant (a patch applied to a copy), or a path.
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, relative, resolve } from 'node:path';
import { applyPatch, parsePatch } from 'diff';
import type { Exercise } from '../core/course.ts';
import { err, ok, type Result } from '../core/errors.ts';
import { isFile, scratchDir, shown } from '../core/paths.ts';

export type Target =
  | { readonly kind: 'exercises' }
  | { readonly kind: 'solutions' }
  | { readonly kind: 'mutant'; readonly name: string; readonly patch: string }
  | { readonly kind: 'path'; readonly path: string };

/** How a target is named in output and JSON (`exercises`, `solutions`, `mutant:<name>`, or the path given). */
export function targetLabel(t: Target): string {
  switch (t.kind) {
    case 'exercises':
    case 'solutions':
      return t.kind;
    case 'mutant':
      return `mutant:${t.name}`;
    case 'path':
      return t.path;
  }
}

export function mutantTarget(ex: Exercise, name: string): Target {
  return { kind: 'mutant', name, patch: join(ex.paths.mutantsDir, `${name}.patch`) };
}

/**
 * The correct implementations of other designs kept for an exercise: `grader/alternatives/<id>/<name>.ts` (a
 * folder `<name>/` for a folder exercise). `dlab verify` grades each and fails if one is rejected.
 */
export function alternativesOf(ex: Exercise): Array<{ readonly name: string; readonly path: string }> {
  let names: string[];
  try {
    names = readdirSync(ex.paths.alternativesDir).sort();
  } catch {
    return [];
  }
  return names.flatMap((n) => {
    const path = join(ex.paths.alternativesDir, n);
    if (ex.files !== undefined) return statSync(path).isDirectory() ? [{ name: n, path }] : [];
    return n.endsWith('.ts') ? [{ name: n.slice(0, -3), path }] : [];
  });
}

/** Reads `--target`: `exercises` (default), `solutions`, `mutant:<name>`, a `.patch` file, or a `.ts` file / folder. */
export function parseTarget(ex: Exercise, raw: string | undefined, cwd: string = process.cwd()): Result<Target> {
  if (raw === undefined || raw === '' || raw === 'exercises') return ok({ kind: 'exercises' });
  if (raw === 'solutions') return ok({ kind: 'solutions' });
  if (raw.startsWith('mutant:')) {
    const name = raw.slice('mutant:'.length);
    if (!ex.mutants.includes(name)) {
      return err('bad-target', `${ex.id} has no mutant '${name}'`, `its mutants are: ${ex.mutants.join(', ') || '(none)'}`);
    }
    return ok(mutantTarget(ex, name));
  }
  const path = resolve(cwd, raw);
  let isDir: boolean;
  try {
    isDir = statSync(path).isDirectory();
  } catch {
    return err('bad-target', `target '${raw}' does not exist`, 'use exercises, solutions, mutant:<name>, or the path of a .ts file, folder or .patch');
  }
  if (path.endsWith('.patch')) return ok({ kind: 'mutant', name: basename(path, '.patch'), patch: path });
  if (ex.files === undefined && isDir) {
    const entry = join(path, `${ex.id}.ts`);
    if (!isFile(entry)) return err('bad-target', `${raw} is a folder without ${ex.id}.ts in it`, 'give the .ts file itself, or a folder laid out like exercises/');
  }
  if (ex.files !== undefined && !isDir) return err('bad-target', `${ex.id} is a folder exercise; give a folder`, `a folder holding ${ex.files.join(', ')}`);
  return ok({ kind: 'path', path });
}

/** The implementation's entry file for a target; a mutant is materialised into a scratch copy of the reference. */
export function materialize(ex: Exercise, t: Target, root: string): Result<string> {
  switch (t.kind) {
    case 'exercises':
      return ok(ex.paths.stub);
    case 'solutions':
      return ok(ex.paths.solution);
    case 'path': {
      if (ex.files !== undefined) return ok(isFile(join(t.path, 'index.ts')) ? join(t.path, 'index.ts') : join(t.path, ex.id, 'index.ts'));
      return ok(isFile(t.path) ? t.path : join(t.path, `${ex.id}.ts`));
    }
    case 'mutant':
      return applyMutant(ex, t.name, t.patch, root);
  }
}

function applyMutant(ex: Exercise, name: string, patchFile: string, root: string): Result<string> {
  let text: string;
  try {
    text = readFileSync(patchFile, 'utf8');
  } catch {
    return err('bad-target', `cannot read mutant ${shown(patchFile)}`);
  }
  const outRoot = join(scratchDir(root), 'mutants', ex.id, name);
  rmSync(outRoot, { recursive: true, force: true });
  // Copy the whole reference (one file, or the exercise's folder) so unpatched files stay beside patched ones.
  const srcDir = ex.paths.solutionDir;
  if (srcDir !== undefined) cpSync(srcDir, join(outRoot, ex.id), { recursive: true });
  else {
    mkdirSync(dirname(join(outRoot, `${ex.id}.ts`)), { recursive: true });
    cpSync(ex.paths.solution, join(outRoot, `${ex.id}.ts`));
  }
  const patches = parsePatch(text);
  if (patches.length === 0 || patches.every((p) => p.hunks.length === 0)) {
    return err('mutant-does-not-apply', `${shown(patchFile)} holds no hunks`, 'write it as a unified diff against the reference (diff -u)');
  }
  for (const p of patches) {
    const name0 = (p.oldFileName ?? '').replace(/^a\//, '');
    const rel = relative('solutions', name0);
    if (!name0.startsWith('solutions/') || !(rel === `${ex.id}.ts` || rel.startsWith(`${ex.id}/`))) {
      return err('mutant-does-not-apply', `${shown(patchFile)} patches '${name0}', which is not part of solutions/${ex.id}`);
    }
    const file = join(outRoot, rel);
    let source: string;
    try {
      source = readFileSync(file, 'utf8');
    } catch {
      return err('mutant-does-not-apply', `${shown(patchFile)} patches '${name0}', which does not exist`);
    }
    const patched = applyPatch(source, p);
    if (patched === false) {
      return err(
        'mutant-does-not-apply',
        `${shown(patchFile)} no longer applies to ${name0}`,
        'the reference changed: regenerate the patch with `diff -u` against the new reference',
      );
    }
    if (patched === source) return err('mutant-does-not-apply', `${shown(patchFile)} changes nothing in ${name0}`);
    writeFileSync(file, patched);
  }
  return ok(ex.files !== undefined ? join(outRoot, ex.id, 'index.ts') : join(outRoot, `${ex.id}.ts`));
}

/**
 * The stub as the course ships it: each stub file as committed in git (HEAD), by path relative to the repo;
 * undefined when the folder is not a git checkout or the file is not committed.
 */
export function committedStubFiles(ex: Exercise, root: string): Record<string, string> | undefined {
  const out: Record<string, string> = {};
  for (const path of ex.paths.stubFiles.map((f) => relative(root, f))) {
    const r = spawnSync('git', ['-C', root, 'show', `HEAD:${path}`], { encoding: 'utf8', maxBuffer: 16 * 1024 * 1024 });
    if (r.status !== 0) return undefined;
    out[path] = r.stdout;
  }
  return out;
}

/**
 * What `verify` grades as the stub: the committed one. Where the working copy differs (a learner's work in
 * their clone, or an author's uncommitted edit), the committed version is written to a scratch folder and
 * graded from there, and `changed` says so; outside a git checkout, the working copy as it is.
 */
export function committedStub(ex: Exercise, root: string): { readonly target: Target; readonly changed: boolean } {
  const files = committedStubFiles(ex, root);
  const read = (f: string) => {
    try {
      return readFileSync(join(root, f), 'utf8');
    } catch {
      return undefined;
    }
  };
  if (files === undefined || Object.entries(files).every(([f, text]) => read(f) === text)) return { target: { kind: 'exercises' }, changed: false };
  const outRoot = join(scratchDir(root), 'committed-stubs');
  for (const [f, text] of Object.entries(files)) {
    const out = join(outRoot, relative('exercises', f));
    mkdirSync(dirname(out), { recursive: true });
    writeFileSync(out, text);
  }
  const path = ex.files !== undefined ? join(outRoot, ex.id) : join(outRoot, `${ex.id}.ts`);
  return { target: { kind: 'path', path }, changed: true };
}
