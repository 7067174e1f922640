import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { ChapterEntry } from '../catalogue.ts';
import { CATALOGUE } from '../catalogue.ts';
import { checkCatalogue, findExercise, loadCourse } from './course.ts';

const chapter: ChapterEntry = {
  slug: '01-demo',
  title: 'Demo',
  exercises: [{ slug: '01-first', title: 'First', kind: 'pure', topics: [], hints: ['a', 'b', 'c'], mutants: ['bug'] }],
};

let dirs: string[] = [];
afterEach(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
  dirs = [];
});

function tree(files: string[]): string {
  const root = mkdtempSync(join(tmpdir(), 'dlab-course-'));
  dirs.push(root);
  for (const f of files) {
    mkdirSync(dirname(join(root, f)), { recursive: true });
    writeFileSync(join(root, f), '');
  }
  return root;
}

const complete = [
  'course/01-demo/README.md',
  'course/01-demo/01-first.md',
  'exercises/01-demo/01-first.ts',
  'solutions/01-demo/01-first.ts',
  'grader/tests/01-demo/01-first.test.ts',
  'grader/mutants/01-demo/01-first/bug.patch',
];

describe('the catalogue check', () => {
  it('accepts a tree that matches the catalogue', () => {
    expect(checkCatalogue([chapter], tree(complete)).problems).toEqual([]);
  });

  it('names a listed file that is missing', () => {
    const { problems } = checkCatalogue([chapter], tree(complete.filter((f) => !f.startsWith('solutions/'))));
    expect(problems).toEqual(['solutions/01-demo/01-first.ts: listed in grader/catalogue.ts but missing']);
  });

  it('names a stray file in any of the five trees', () => {
    const { problems } = checkCatalogue([chapter], tree([...complete, 'grader/mutants/01-demo/01-first/other.patch', 'exercises/01-demo/02-x.ts']));
    expect(problems).toEqual([
      'exercises/01-demo/02-x.ts: not listed in grader/catalogue.ts (add it there, or remove the file)',
      'grader/mutants/01-demo/01-first/other.patch: not listed in grader/catalogue.ts (add it there, or remove the file)',
    ]);
  });

  it('wants three non-empty hints and well-formed slugs', () => {
    const bad: ChapterEntry = { ...chapter, slug: 'demo', exercises: [{ ...chapter.exercises[0]!, hints: ['a', '', 'c'] }] };
    const { problems } = checkCatalogue([bad], tree([]));
    expect(problems.some((p) => p.includes("chapter slug 'demo'"))).toBe(true);
    expect(problems.some((p) => p.includes('three non-empty hints'))).toBe(true);
  });

  it('loads the real catalogue without problems', () => {
    const r = loadCourse();
    expect(r.ok ? [] : [r.error.message]).toEqual([]);
    expect(CATALOGUE.length).toBeGreaterThan(0);
  });
});

describe('finding an exercise', () => {
  const course = checkCatalogue([chapter], tree(complete)).course;

  it('accepts the id, the slug, the bare name, and a file path', () => {
    for (const q of ['01-demo/01-first', '01-first', 'first', 'exercises/01-demo/01-first.ts']) {
      const r = findExercise(course, q);
      expect(r.ok && r.value.id).toBe('01-demo/01-first');
    }
  });

  it('suggests the nearest ids for an unknown name', () => {
    const r = findExercise(course, 'frist');
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.error.code).toBe('unknown-exercise');
      expect(r.error.message).toBe("no exercise 'frist'");
      expect(r.error.next).toContain('did you mean 01-demo/01-first');
    }
  });
});
