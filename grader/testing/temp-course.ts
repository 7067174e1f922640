// A scratch copy of the course (sources copied, node_modules linked), so tests and benchmarks can edit
// exercise files and run `dlab` against them without touching the learner's checkout.
import { cpSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT } from '../core/paths.ts';

export interface TempCourse {
  readonly root: string;
  readonly db: string;
  dispose(): void;
}

const COPY = ['course', 'exercises', 'solutions', 'grader', 'harness', 'package.json', 'tsconfig.json'];

export function tempCourse(): TempCourse {
  const root = mkdtempSync(join(tmpdir(), 'dlab-course-'));
  for (const item of COPY) cpSync(join(ROOT, item), join(root, item), { recursive: true });
  symlinkSync(join(ROOT, 'node_modules'), join(root, 'node_modules'), 'dir');
  return { root, db: join(root, 'progress.db'), dispose: () => rmSync(root, { recursive: true, force: true }) };
}
