// Proves that a stub and its reference export the same names with the same types, with one tsc run.
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Exercise } from './course.ts';
import { scratchDir } from './paths.ts';

type ExportKind = 'type' | 'value' | 'class';

/** How many type parameters an exported type or interface declares (`Frame<P = unknown>` has one). */
export function typeParams(source: string, name: string): number {
  const m = new RegExp(`^export\\s+(?:declare\\s+)?(?:type|interface)\\s+${name}\\s*<`, 'm').exec(source);
  if (m === null) return 0;
  let depth = 0;
  let count = 1;
  for (let i = m.index + m[0].length - 1; i < source.length; i++) {
    const c = source[i];
    if (c === '<' || c === '(' || c === '{' || c === '[') depth++;
    else if (c === '>' || c === ')' || c === '}' || c === ']') {
      depth--;
      if (depth === 0) return count;
    } else if (c === ',' && depth === 1) count++;
  }
  return count;
}

const DECL = /^export\s+(?:declare\s+)?(?:abstract\s+)?(type|interface|class|enum|const|let|var|function\*?|async\s+function\*?)\s+([A-Za-z_$][\w$]*)/gm;
const BLOCK = /^export\s+(?:type\s+)?\{[^}]*\}/m;

export function exportsOf(source: string): Map<string, ExportKind> | string {
  if (BLOCK.test(source)) return 'uses `export { ... }`; declare each export where it is defined (`export function`, `export type`, ...)';
  const out = new Map<string, ExportKind>();
  for (const m of source.matchAll(DECL)) {
    const kw = m[1]!;
    out.set(m[2]!, kw === 'type' || kw === 'interface' ? 'type' : kw === 'class' ? 'class' : 'value');
  }
  return out;
}

const PRELUDE = `type Eq<A, B> = (<T>() => T extends A ? 1 : 2) extends (<T>() => T extends B ? 1 : 2) ? true : false;
type Assert<T extends true> = T;
type Public<T> = { [K in keyof T]: T[K] };
type Ctor<C> = C extends abstract new (...args: infer A) => infer I ? [A, Public<I>] : never;
`;

/** Problems per exercise id (empty when the stub and the reference agree). */
export function compareExportTypes(exercises: readonly Exercise[], root: string): Map<string, string[]> {
  const problems = new Map<string, string[]>(exercises.map((e) => [e.id, []]));
  const lines: string[] = [PRELUDE];
  const owner: Array<{ id: string; what: string } | undefined> = PRELUDE.split('\n').map(() => undefined);
  const push = (text: string, who?: { id: string; what: string }) => {
    lines.push(text);
    owner.push(who);
  };
  exercises.forEach((ex, i) => {
    const solText = readFileSync(ex.paths.solution, 'utf8');
    const sol = exportsOf(solText);
    const stub = exportsOf(readFileSync(ex.paths.stub, 'utf8'));
    if (typeof sol === 'string') return problems.get(ex.id)!.push(`solution ${sol}`);
    if (typeof stub === 'string') return problems.get(ex.id)!.push(`stub ${stub}`);
    for (const [name, kind] of sol) {
      if (!stub.has(name)) problems.get(ex.id)!.push(`the stub does not export '${name}'`);
      else if (stub.get(name) !== kind) problems.get(ex.id)!.push(`'${name}' is a ${kind} in the solution but a ${stub.get(name)} in the stub`);
    }
    for (const name of stub.keys()) if (!sol.has(name)) problems.get(ex.id)!.push(`the stub exports '${name}', which the solution does not`);
    push(`import type * as S${i} from ${JSON.stringify(ex.paths.solution)};`);
    push(`import type * as E${i} from ${JSON.stringify(ex.paths.stub)};`);
    for (const [name, kind] of sol) {
      if (stub.get(name) !== kind) continue;
      const who = { id: ex.id, what: `'${name}' has a different type in the stub than in the solution` };
      // A generic type is compared at one instantiation; never satisfies any constraint on its parameters.
      const n = kind === 'type' ? typeParams(solText, name) : 0;
      const args = n === 0 ? '' : `<${Array.from({ length: n }, () => 'never').join(', ')}>`;
      if (kind === 'type') push(`export type T${i}_${name} = Assert<Eq<S${i}.${name}${args}, E${i}.${name}${args}>>;`, who);
      else if (kind === 'class') push(`export type T${i}_${name} = Assert<Eq<Ctor<typeof S${i}.${name}>, Ctor<typeof E${i}.${name}>>>;`, who);
      else push(`export type T${i}_${name} = Assert<Eq<typeof S${i}.${name}, typeof E${i}.${name}>>;`, who);
    }
  });
  const dir = join(scratchDir(root), 'export-types');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'check.ts'), lines.join('\n') + '\n');
  writeFileSync(
    join(dir, 'tsconfig.json'),
    JSON.stringify({
      extends: join(root, 'tsconfig.json'),
      compilerOptions: { noUnusedLocals: false, typeRoots: [join(root, 'node_modules', '@types')] },
      include: ['check.ts'],
    }),
  );
  const r = spawnSync(join(root, 'node_modules', '.bin', 'tsc'), ['--noEmit', '--pretty', 'false', '-p', join(dir, 'tsconfig.json')], { encoding: 'utf8' });
  const out = `${r.stdout ?? ''}${r.stderr ?? ''}`;
  if (r.status !== 0) {
    let attributed = false;
    for (const m of out.matchAll(/check\.ts\((\d+),\d+\): error/g)) {
      const who = owner[Number(m[1]) - 1];
      if (who !== undefined) {
        const list = problems.get(who.id)!;
        if (!list.includes(who.what)) list.push(who.what);
        attributed = true;
      }
    }
    if (!attributed) {
      // An error inside a stub or solution (it does not compile): name it for every exercise it touches.
      for (const ex of exercises) {
        if (out.includes(ex.id)) problems.get(ex.id)!.push(`does not type-check: ${out.split('\n').find((l) => l.includes(ex.id))?.trim() ?? ''}`);
      }
    }
  }
  return problems;
}
