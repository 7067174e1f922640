// The CLI bundle (bundle.mjs) as a learner meets it: built at the first start, used while fresh, rebuilt after
// an edit, safe when several dlab start at once, and never in the way when it cannot be built.
import { spawn, spawnSync } from 'node:child_process';
import { appendFileSync, existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempCourse, type TempCourse } from '../testing/temp-course.ts';
import { freshEntry } from './bundle.mjs';

const ID = '03-time-and-causality/01-vector-clocks';

let course: TempCourse;
beforeAll(() => {
  course = tempCourse();
});
afterAll(() => course.dispose());

function env(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const e: NodeJS.ProcessEnv = { ...process.env, DLAB_DB: course.db, NO_COLOR: '1', ...extra };
  delete e['DLAB_FROM_SOURCE'];
  return e;
}

function dlab(args: string[], extra: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, [join(course.root, 'grader', 'bin', 'dlab.mjs'), ...args], { cwd: course.root, env: env(extra), encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

function dlabAsync(args: string[]): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [join(course.root, 'grader', 'bin', 'dlab.mjs'), ...args], { cwd: course.root, env: env(), stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (b: Buffer) => (out += b.toString()));
    child.stderr.on('data', (b: Buffer) => (err += b.toString()));
    child.on('close', (code) => resolve({ code, out, err }));
  });
}

describe('the CLI bundle', () => {
  it('is built at the first start, prints what the sources print, and is then used as it is', () => {
    expect(freshEntry(course.root)).toBeUndefined();
    const bundled = dlab(['list', '--json']);
    expect(bundled.err).toBe('');
    expect(bundled.code).toBe(0);
    const entry = freshEntry(course.root);
    expect(entry).toBeDefined();
    expect(existsSync(fileURLToPath(entry!))).toBe(true);

    const source = dlab(['list', '--json'], { DLAB_FROM_SOURCE: '1' });
    expect(source.code).toBe(0);
    expect(bundled.out).toBe(source.out);
    // Paths inside the bundle still name the repo: the stub's path is relative to the course's root.
    expect(JSON.parse(bundled.out)[0].stub).toMatch(/^exercises\//);
    expect(dlab(['--version']).out).toBe('0.1.0\n');
  });

  it('grades from the bundle: the runner finds its worker and the hidden tests beside the sources', () => {
    expect(dlab(['check', ID, '--target', 'solutions']).code).toBe(0);
    expect(dlab(['check', ID]).code).toBe(1);
  }, 60_000);

  it('is rebuilt when a file it was built from changes, and several starts at once all work', async () => {
    expect(freshEntry(course.root)).toBeDefined();
    appendFileSync(join(course.root, 'grader', 'catalogue.ts'), '\n// edited by a course author\n');
    expect(freshEntry(course.root)).toBeUndefined();
    const runs = await Promise.all(Array.from({ length: 4 }, () => dlabAsync(['list'])));
    for (const r of runs) {
      expect(r.err).toBe('');
      expect(r.code).toBe(0);
      expect(r.out).toBe(runs[0]!.out);
    }
    expect(freshEntry(course.root)).toBeDefined();
    const manifest = JSON.parse(readFileSync(join(course.root, '.dlab', 'build', 'manifest.json'), 'utf8')) as { inputs: Record<string, unknown> };
    expect(Object.keys(manifest.inputs)).toContain('grader/catalogue.ts');
  }, 60_000);

  it('falls back to the TypeScript sources when it cannot be built', () => {
    // import.meta.resolve would answer for the bundle's chunk, not the file: the build refuses it.
    appendFileSync(join(course.root, 'grader', 'cli', 'io.ts'), '\nexport const whereAmI = (): string => import.meta.resolve("./io.ts");\n');
    const r = dlab(['--version']);
    expect(r.code).toBe(0);
    expect(r.out).toBe('0.1.0\n');
    expect(r.err).toContain('running from the TypeScript sources');
    expect(r.err).toContain('import.meta.resolve');
    expect(freshEntry(course.root)).toBeUndefined();
  }, 30_000);
});
