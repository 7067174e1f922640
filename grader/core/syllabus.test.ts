// The syllabus a learner reads in the README is the catalogue's, with each lesson's own estimated time.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadCourse } from './course.ts';
import { ROOT } from './paths.ts';
import { duration, lessonMinutes, SYLLABUS_END, SYLLABUS_START, syllabusMarkdown, withSyllabus } from './syllabus.ts';

describe('the syllabus', () => {
  it("in the README is the one the catalogue and the lessons' times make (npm run lessons refreshes it)", () => {
    const course = loadCourse();
    if (!course.ok) throw new Error(course.error.message);
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    const block = readme.slice(readme.indexOf(SYLLABUS_START), readme.indexOf(SYLLABUS_END) + SYLLABUS_END.length);
    expect(block).toBe(syllabusMarkdown(course.value));
    for (const ex of course.value.exercises) expect(lessonMinutes(ex), `${ex.id}: its lesson's "*About N minutes.*" line`).toBeGreaterThan(0);
  });

  it('reads times, writes durations, and replaces only the block', () => {
    expect([duration(45), duration(60), duration(135)]).toEqual(['45 min', '1 h', '2 h 15 min']);
    expect(lessonMinutes({ paths: { lesson: '/nonexistent/lesson.md' } } as never)).toBeUndefined();
    expect(withSyllabus(`a\n${SYLLABUS_START}\nold\n${SYLLABUS_END}\nb`, 'NEW')).toBe('a\nNEW\nb');
    expect(withSyllabus('no markers', 'NEW')).toBeUndefined();
  });
});
