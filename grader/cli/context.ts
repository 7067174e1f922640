// What every command gets: its streams, the course (checked on load), and the progress store (opened lazily).
import { loadCourse, findExercise, type Course, type Exercise } from '../core/course.ts';
import { fail, DlabExit } from '../core/errors.ts';
import { ROOT } from '../core/paths.ts';
import { defaultDbPath, ProgressStore } from '../store/progress-store.ts';
import { line, type Io } from './io.ts';

export interface Context {
  readonly io: Io;
  readonly root: string;
  course(): Course;
  store(): ProgressStore;
  /** The exercise a command is about: the one named, else the current one, else the first unfinished. */
  exercise(query: string | undefined): Exercise;
  close(): void;
}

export function createContext(io: Io, root: string = ROOT): Context {
  let course: Course | undefined;
  let store: ProgressStore | undefined;
  const ctx: Context = {
    io,
    root,
    course() {
      if (course !== undefined) return course;
      const r = loadCourse(root);
      if (!r.ok) throw new DlabExit(r.error);
      course = r.value;
      return course;
    },
    store() {
      if (store !== undefined) return store;
      const r = ProgressStore.open(defaultDbPath(io.env));
      if (!r.ok) throw new DlabExit(r.error);
      if (r.value.notice !== undefined) line(io.stderr, `dlab: warning: ${r.value.notice}`);
      store = r.value.store;
      return store;
    },
    exercise(query) {
      const c = ctx.course();
      if (query !== undefined) {
        const r = findExercise(c, query);
        if (!r.ok) throw new DlabExit(r.error);
        return r.value;
      }
      const cur = ctx.store().current();
      const current = cur === undefined ? undefined : c.byId.get(cur);
      if (current !== undefined) return current;
      const first = firstUnfinished(c, ctx.store()) ?? c.exercises[0];
      if (first === undefined) fail('catalogue', 'the course has no exercises yet');
      return first;
    },
    close() {
      store?.close();
      store = undefined;
    },
  };
  return ctx;
}

export function firstUnfinished(course: Course, store: ProgressStore): Exercise | undefined {
  const progress = store.progress();
  return course.exercises.find((e) => progress.get(e.id)?.status !== 'passed');
}
