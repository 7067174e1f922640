// Turns lessons (markdown) and verdicts into terminal text.
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Exercise } from '../core/course.ts';
import { scratchDir, shown } from '../core/paths.ts';
import type { Verdict } from '../runner/grade.ts';
import { paint, type Io } from './io.ts';

/** Renders markdown for the terminal with marked + marked-terminal (loaded only when a lesson is shown). */
export async function renderMarkdown(md: string, io: Pick<Io, 'color' | 'columns'>): Promise<string> {
  // chalk (under marked-terminal) decides on colour when first loaded; tell it before.
  if (!io.color) process.env['FORCE_COLOR'] = '0';
  const [{ Marked }, { markedTerminal }] = await Promise.all([import('marked'), import('marked-terminal')]);
  const width = Math.max(40, Math.min(io.columns, 100) - 2);
  const marked = new Marked(markedTerminal({ reflowText: true, width, tab: 2, emoji: false, showSectionPrefix: false }) as never, {
    renderer: {
      // marked-terminal renders the text of a tight list item raw (its issues #304, #371): **bold** stays as
      // asterisks. Such block-level text carries inline tokens; render them, and leave other text to it.
      text(token) {
        return 'tokens' in token && token.tokens !== undefined ? this.parser.parseInline(token.tokens) : false;
      },
    },
  });
  const out = marked.parse(md, { async: false });
  return out.replace(/\n{3,}/g, '\n\n');
}

/**
 * The rendered lesson, from a cache keyed by the lesson's text and the terminal's width and colour:
 * loading marked-terminal (and highlight.js under it) costs more than the rest of `dlab next` together.
 */
export async function renderLesson(ex: Exercise, io: Io): Promise<string> {
  const md = readFileSync(ex.paths.lesson, 'utf8');
  const key = createHash('sha1').update(`v2\0${io.color}\0${io.columns}\0${md}`).digest('hex');
  const dir = join(scratchDir(), 'lessons');
  const file = join(dir, `${key}.txt`);
  try {
    return readFileSync(file, 'utf8');
  } catch {
    const text = await renderMarkdown(md, io);
    try {
      mkdirSync(dir, { recursive: true });
      writeFileSync(`${file}.${process.pid}`, text);
      renameSync(`${file}.${process.pid}`, file);
    } catch {
      /* a cache that cannot be written only costs time */
    }
    return text;
  }
}

/** `path:line` of the first `TODO:` in the stub, so an editor or terminal can jump there. */
export function stubLocation(ex: Exercise, cwd: string): string {
  const files = ex.paths.stubFiles;
  for (const f of files) {
    const lines = readFileSync(f, 'utf8').split('\n');
    const i = lines.findIndex((l) => l.includes('TODO:'));
    if (i >= 0) return `${shown(f, cwd)}:${i + 1}`;
  }
  return shown(files[0]!, cwd);
}

function indent(s: string, by = '    '): string {
  return s
    .split('\n')
    .map((l) => (l === '' ? l : by + l))
    .join('\n');
}

const MAX_MESSAGE_LINES = 60;

/** The verdict as a learner reads it: what failed, why, and how to replay it. */
export function renderVerdict(v: Verdict, io: Pick<Io, 'color'>, opts: { showAll?: boolean; maxMessageLines?: number } = {}): string {
  const p = paint(io);
  const secs = (v.durationMs / 1000).toFixed(1);
  const out: string[] = [];
  const target = v.target === 'exercises' ? '' : ` [${v.target}]`;
  if (v.passed) {
    out.push(`${p.green('✓ passed')}  ${p.bold(v.id)}${target}  ${p.dim(`${v.tests} test${v.tests === 1 ? '' : 's'}, ${secs} s`)}`);
    return out.join('\n');
  }
  const what =
    v.kind === 'timed-out' ? 'timed out' : v.kind === 'did-not-load' ? 'did not load' : v.kind === 'crashed' ? 'crashed' : `${v.failures.length} of ${v.tests} test${v.tests === 1 ? '' : 's'} failed${v.notRun > 0 ? ` (stopped there; ${v.notRun} more not run)` : ''}`;
  out.push(`${p.red('✗ failed')}  ${p.bold(v.id)}${target}  ${p.dim(`${what}, ${secs} s`)}`);
  const shownFailures = opts.showAll === true ? v.failures : v.failures.slice(0, 1);
  for (const f of shownFailures) {
    out.push('', `  ${p.red('✗')} ${p.bold(f.test)}`);
    let msg = f.message;
    const lines = msg.split('\n');
    const max = opts.maxMessageLines ?? MAX_MESSAGE_LINES;
    if (lines.length > max) msg = [...lines.slice(0, max), `… (${lines.length - max} more lines: \`npx dlab check\` prints the whole report${f.replay === undefined ? '' : ', the replay command the whole run'})`].join('\n');
    out.push(indent(msg));
    if (f.replay !== undefined && !msg.includes(f.replay)) out.push(indent(`Replay: ${f.replay}`));
  }
  const rest = v.failures.slice(shownFailures.length);
  if (rest.length > 0) {
    out.push('', `  ${p.dim(`also failing (${rest.length}):`)}`);
    for (const f of rest) out.push(`  ${p.red('✗')} ${f.test}`);
  }
  if (v.logs.length > 0) {
    out.push('', `  ${p.dim('your code printed:')}`);
    out.push(indent(v.logs.slice(0, 20).join('\n')));
    if (v.logs.length > 20) out.push(`    ${p.dim(`… (${v.logs.length - 20} more lines)`)}`);
  }
  return out.join('\n');
}
