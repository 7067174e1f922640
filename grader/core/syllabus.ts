// The course syllabus as a learner sees it: chapters, exercises and estimated times (from each lesson's
// "*About N minutes*" line, the one place a time is written). `dlab list` prints it (with the seed topics in
// --json), and the README holds it between <!-- dlab:syllabus --> markers, checked by a test and rewritten by
// `npm run lessons`.
import { closeSync, openSync, readSync } from 'node:fs';
import type { Course, Exercise } from './course.ts';

const TIME = /^\*About (\d+) minutes\b/m;

/** The lesson's estimated time in minutes, from its "*About N minutes*" line near the top; undefined if it has none. */
export function lessonMinutes(ex: Pick<Exercise, 'paths'>): number | undefined {
  let head = '';
  try {
    const fd = openSync(ex.paths.lesson, 'r');
    try {
      const buf = Buffer.alloc(512);
      head = buf.subarray(0, readSync(fd, buf, 0, buf.length, 0)).toString('utf8');
    } finally {
      closeSync(fd);
    }
  } catch {
    return undefined;
  }
  const m = TIME.exec(head);
  return m === null ? undefined : Number(m[1]);
}

/** "1 h 45 min", "45 min". */
export function duration(minutes: number): string {
  const h = Math.floor(minutes / 60);
  const m = minutes % 60;
  return h === 0 ? `${m} min` : m === 0 ? `${h} h` : `${h} h ${m} min`;
}

export const SYLLABUS_START = '<!-- dlab:syllabus -->';
export const SYLLABUS_END = '<!-- /dlab:syllabus -->';

/** The README's syllabus block (markers included). */
export function syllabusMarkdown(course: Course): string {
  const lines = [SYLLABUS_START, '', '| Chapter / exercise | Time |', '|---|---|'];
  let total = 0;
  for (const ch of course.chapters) {
    const mine = course.exercises.filter((e) => e.chapter.slug === ch.slug);
    const minutes = mine.map((e) => lessonMinutes(e) ?? 0);
    const sum = minutes.reduce((a, b) => a + b, 0);
    total += sum;
    lines.push(`| **${ch.slug}** · ${ch.title} | **${duration(sum)}** |`);
    mine.forEach((e, i) => lines.push(`| \`${e.id.slice(ch.slug.length + 1)}\` ${e.title} | ${duration(minutes[i]!)} |`));
  }
  lines.push('', `${course.exercises.length} exercises, about ${duration(total)} in all.`, '', SYLLABUS_END);
  return lines.join('\n');
}

/** `text` with its syllabus block replaced by `block`; undefined when the markers are missing. */
export function withSyllabus(text: string, block: string): string | undefined {
  const a = text.indexOf(SYLLABUS_START);
  const b = text.indexOf(SYLLABUS_END);
  if (a < 0 || b < a) return undefined;
  return text.slice(0, a) + block + text.slice(b + SYLLABUS_END.length);
}
